/* LPM_TRIE: longest-prefix match with the kernel's key layout
 * {u32 prefixlen; u8 data[]} and the kernel's trie shape.
 *
 * The trie is the same path-compressed binary trie as kernel/bpf/lpm_trie.c
 * (nodes with a prefix, two children, and "intermediate" nodes that hold no
 * value but join two subtrees), built by the same insertion and deletion
 * rules.  Reproducing the shape, not just the lookup result, makes
 * get_next_key return keys in the kernel's postorder (more specific prefixes
 * before the prefixes that contain them) and so lets tests compare iteration
 * sequences exactly.
 *
 * Writers take one map lock.  Nodes come from a pool allocated at creation
 * (entries + intermediate nodes + spares) and are recycled, never freed, so
 * lock-free lookups always read valid nodes (see map_impl.h).
 */
#include "map_impl.h"

#define LPM_IM 1U

struct lpm_node {
    struct lpm_node *child[2];
    struct lpm_node *free_next;
    uint32_t prefixlen;
    uint32_t flags;
    unsigned char data[]; /* data_size bytes (rounded to 8), then the value */
};

struct lpm {
    struct dp_map map;
    struct lpm_node *root;
    uint32_t data_size;
    uint32_t max_prefixlen;
    uint32_t n_entries;
    uint32_t node_bytes;
    uint32_t value_off;
    uint32_t pool_n;
    char *pool;
    struct lpm_node *free_head;
    dp_spinlock_t lock;
};

struct lpm_key {
    uint32_t prefixlen;
    unsigned char data[];
};

static inline unsigned extract_bit(const unsigned char *data, uint32_t index)
{
    return !!(data[index / 8] & (1U << (7 - (index % 8))));
}

static inline void *node_value(struct lpm *t, struct lpm_node *n) { return n->data + t->value_off; }

/* Number of leading bits node and key share, up to the shorter prefix. */
static uint32_t longest_prefix_match(const struct lpm *t, const struct lpm_node *n, const struct lpm_key *k)
{
    uint32_t limit = n->prefixlen < k->prefixlen ? n->prefixlen : k->prefixlen;
    uint32_t prefixlen = 0;
    for (uint32_t i = 0; i < t->data_size && prefixlen < limit; i++) {
        unsigned diff = (unsigned)(n->data[i] ^ k->data[i]);
        if (diff) {
            prefixlen += (uint32_t)__builtin_clz(diff) - 24;
            break;
        }
        prefixlen += 8;
    }
    return prefixlen < limit ? prefixlen : limit;
}

static struct lpm_node *node_alloc(struct lpm *t, const void *value)
{
    struct lpm_node *n = t->free_head;
    if (!n)
        return NULL;
    t->free_head = n->free_next;
    n->child[0] = n->child[1] = NULL;
    n->flags = 0;
    if (value)
        memcpy(node_value(t, n), value, t->map.value_size);
    return n;
}

static void node_free(struct lpm *t, struct lpm_node *n)
{
    if (!n)
        return;
    n->free_next = t->free_head;
    t->free_head = n;
}

static void *lpm_lookup(struct dp_map *m, const void *key)
{
    struct lpm *t = (struct lpm *)m;
    const struct lpm_key *k = key;
    struct lpm_node *n, *found = NULL;
    if (k->prefixlen > t->max_prefixlen)
        return NULL;
    for (n = DP_LOAD(&t->root); n;) {
        uint32_t matchlen = longest_prefix_match(t, n, k);
        if (matchlen == t->max_prefixlen) {
            found = n;
            break;
        }
        if (matchlen < n->prefixlen)
            break;
        if (!(n->flags & LPM_IM))
            found = n;
        n = DP_LOAD(&n->child[extract_bit(k->data, n->prefixlen)]);
    }
    return found ? node_value(t, found) : NULL;
}

static long lpm_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    void *v = lpm_lookup(m, key);
    if (!v)
        return -ENOENT;
    memcpy(value, v, m->value_size);
    return 0;
}

/* trie_check_add_elem */
static long check_add(struct lpm *t, uint64_t flags)
{
    if (flags == DP_EXIST)
        return -ENOENT;
    if (t->n_entries == t->map.max_entries)
        return -ENOSPC;
    /* written under the map lock, read lock-free by dp_lpm_count */
    __atomic_fetch_add(&t->n_entries, 1, __ATOMIC_RELAXED);
    return 0;
}

static long lpm_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct lpm *t = (struct lpm *)m;
    const struct lpm_key *k = key;
    struct lpm_node *n, *new_node, *im, *free_node = NULL, **slot;
    uint32_t matchlen = 0;
    long ret = 0;

    if (flags > DP_EXIST)
        return -EINVAL;
    if (k->prefixlen > t->max_prefixlen)
        return -EINVAL;
    dp_spin_lock(&t->lock);
    new_node = node_alloc(t, value);
    if (!new_node) {
        ret = -ENOMEM;
        goto out;
    }
    new_node->prefixlen = k->prefixlen;
    memcpy(new_node->data, k->data, t->data_size);

    /* walk down matching as many bits as possible, until an empty slot or a
     * node that must be replaced or split */
    slot = &t->root;
    while ((n = *slot)) {
        matchlen = longest_prefix_match(t, n, k);
        if (n->prefixlen != matchlen || n->prefixlen == k->prefixlen || n->prefixlen == t->max_prefixlen)
            break;
        slot = &n->child[extract_bit(k->data, n->prefixlen)];
    }
    if (!n) {
        ret = check_add(t, flags);
        if (!ret)
            DP_STORE(slot, new_node);
        goto out;
    }
    if (n->prefixlen == matchlen) {
        /* same prefix: replace the node (an intermediate node becomes real) */
        if (!(n->flags & LPM_IM)) {
            if (flags == DP_NOEXIST) {
                ret = -EEXIST;
                goto out;
            }
        } else {
            ret = check_add(t, flags);
            if (ret)
                goto out;
        }
        new_node->child[0] = n->child[0];
        new_node->child[1] = n->child[1];
        DP_STORE(slot, new_node);
        free_node = n;
        goto out;
    }
    ret = check_add(t, flags);
    if (ret)
        goto out;
    if (matchlen == k->prefixlen) {
        /* the new prefix contains the node: insert it as the node's parent */
        new_node->child[extract_bit(n->data, matchlen)] = n;
        DP_STORE(slot, new_node);
        goto out;
    }
    im = node_alloc(t, NULL);
    if (!im) {
        __atomic_fetch_sub(&t->n_entries, 1, __ATOMIC_RELAXED);
        ret = -ENOMEM;
        goto out;
    }
    im->prefixlen = matchlen;
    im->flags = LPM_IM;
    memcpy(im->data, n->data, t->data_size);
    if (extract_bit(k->data, matchlen)) {
        im->child[0] = n;
        im->child[1] = new_node;
    } else {
        im->child[0] = new_node;
        im->child[1] = n;
    }
    DP_STORE(slot, im);
out:
    if (ret)
        node_free(t, new_node);
    node_free(t, free_node);
    dp_spin_unlock(&t->lock);
    return ret;
}

static long lpm_delete(struct dp_map *m, const void *key)
{
    struct lpm *t = (struct lpm *)m;
    const struct lpm_key *k = key;
    struct lpm_node **trim, **trim2, *n, *parent = NULL, *free_node = NULL, *free_parent = NULL;
    uint32_t matchlen = 0;
    long ret = 0;

    if (k->prefixlen > t->max_prefixlen)
        return -EINVAL;
    dp_spin_lock(&t->lock);
    trim = trim2 = &t->root;
    while ((n = *trim)) {
        matchlen = longest_prefix_match(t, n, k);
        if (n->prefixlen != matchlen || n->prefixlen == k->prefixlen)
            break;
        parent = n;
        trim2 = trim;
        trim = &n->child[extract_bit(k->data, n->prefixlen)];
    }
    if (!n || n->prefixlen != k->prefixlen || n->prefixlen != matchlen || (n->flags & LPM_IM)) {
        ret = -ENOENT;
        goto out;
    }
    __atomic_fetch_sub(&t->n_entries, 1, __ATOMIC_RELAXED);
    if (n->child[0] && n->child[1]) {
        /* two children: the node becomes an intermediate node */
        n->flags |= LPM_IM;
        goto out;
    }
    if (parent && (parent->flags & LPM_IM) && !n->child[0] && !n->child[1]) {
        /* a leaf under an intermediate node: drop both, promote the sibling */
        DP_STORE(trim2, parent->child[n == parent->child[0] ? 1 : 0]);
        free_parent = parent;
        free_node = n;
        goto out;
    }
    DP_STORE(trim, n->child[0] ? n->child[0] : n->child[1]);
    free_node = n;
out:
    node_free(t, free_node);
    node_free(t, free_parent);
    dp_spin_unlock(&t->lock);
    return ret;
}

static void copy_key(struct lpm *t, struct lpm_node *n, void *next_key)
{
    struct lpm_key *nk = next_key;
    nk->prefixlen = n->prefixlen;
    memcpy(nk->data, n->data, t->data_size);
}

/* Postorder successor of key; the leftmost node when key is NULL, invalid or absent. */
static long lpm_get_next_key(struct dp_map *m, const void *key, void *next_key)
{
    struct lpm *t = (struct lpm *)m;
    const struct lpm_key *k = key;
    struct lpm_node *n, *search_root, *next = NULL, **stack = NULL;
    uint32_t sp = 0, matchlen = 0;
    long ret = 0;

    dp_spin_lock(&t->lock);
    search_root = t->root;
    if (!search_root) {
        ret = -ENOENT;
        goto out;
    }
    if (!k || k->prefixlen > t->max_prefixlen)
        goto find_leftmost;
    stack = malloc(sizeof(*stack) * (t->max_prefixlen + 1));
    if (!stack) {
        ret = -ENOMEM;
        goto out;
    }
    for (n = search_root; n;) {
        stack[sp++] = n;
        matchlen = longest_prefix_match(t, n, k);
        if (n->prefixlen != matchlen || n->prefixlen == k->prefixlen)
            break;
        n = n->child[extract_bit(k->data, n->prefixlen)];
    }
    if (!n || n->prefixlen != matchlen || (n->flags & LPM_IM))
        goto find_leftmost;
    /* found the exact node: climb until a right sibling subtree or a real parent */
    n = stack[--sp];
    while (sp > 0) {
        struct lpm_node *parent = stack[sp - 1];
        if (parent->child[0] == n && parent->child[1]) {
            search_root = parent->child[1];
            goto find_leftmost;
        }
        if (!(parent->flags & LPM_IM)) {
            next = parent;
            goto copy;
        }
        n = parent;
        sp--;
    }
    ret = -ENOENT;
    goto out;
find_leftmost:
    /* intermediate nodes always have two children, so this finds a node */
    for (n = search_root; n;) {
        if (n->flags & LPM_IM) {
            n = n->child[0];
        } else {
            next = n;
            n = n->child[0];
            if (!n)
                n = next->child[1];
        }
    }
copy:
    copy_key(t, next, next_key);
out:
    dp_spin_unlock(&t->lock);
    free(stack);
    return ret;
}

static void lpm_destroy(struct dp_map *m)
{
    struct lpm *t = (struct lpm *)m;
    free(t->pool);
    free(t);
}

static const struct dp_map_ops lpm_ops = {
    .lookup = lpm_lookup,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = lpm_update,
    .delete_elem = lpm_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = lpm_get_next_key,
    .sys_lookup = lpm_sys_lookup,
    .sys_update = lpm_update,
    .sys_delete = lpm_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = lpm_destroy,
};

#define LPM_DATA_SIZE_MAX 256
#define LPM_KEY_SIZE_MIN (4 + 1)
#define LPM_KEY_SIZE_MAX (4 + LPM_DATA_SIZE_MAX)
#define LPM_VAL_SIZE_MAX (DP_KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - sizeof(struct lpm_node))

long dp_lpm_create(const struct dp_map_attr *a, struct dp_map **out)
{
    uint32_t f = a->map_flags;
    if (a->max_entries == 0 || !(f & DP_F_NO_PREALLOC) ||
        (f & ~(DP_F_NO_PREALLOC | DP_F_NUMA_NODE | DP_F_ACCESS_MASK)) ||
        ((f & DP_F_RDONLY_PROG) && (f & DP_F_WRONLY_PROG)) || a->key_size < LPM_KEY_SIZE_MIN ||
        a->key_size > LPM_KEY_SIZE_MAX || a->value_size < 1 || a->value_size > LPM_VAL_SIZE_MAX)
        return -EINVAL;
    struct lpm *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    dp_map_init_common(&t->map, a);
    t->data_size = a->key_size - 4;
    t->max_prefixlen = t->data_size * 8;
    t->value_off = DP_ROUND_UP(t->data_size, 8);
    t->node_bytes = (uint32_t)(sizeof(struct lpm_node) + t->value_off + DP_ROUND_UP(a->value_size, 8));
    /* entries + intermediate nodes (< entries) + in-flight replacements */
    t->pool_n = 2 * a->max_entries + 4;
    t->pool = calloc(t->pool_n, t->node_bytes);
    if (!t->pool) {
        free(t);
        return -ENOMEM;
    }
    for (uint32_t i = t->pool_n; i-- > 0;)
        node_free(t, (struct lpm_node *)(t->pool + (uint64_t)i * t->node_bytes));
    t->map.ops = &lpm_ops;
    t->map.value_base = t->pool;
    t->map.value_region_size = (uint64_t)t->pool_n * t->node_bytes;
    *out = &t->map;
    return 0;
}

uint64_t dp_lpm_count(struct dp_map *m)
{
    return __atomic_load_n(&((struct lpm *)m)->n_entries, __ATOMIC_RELAXED);
}
