/* Hash maps: HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH and DEVMAP_HASH.
 *
 * Buckets are singly linked lists ending in a "nulls" marker that encodes
 * the bucket index (see map_impl.h for the memory model).  All elements come
 * from a pool allocated at creation: max_entries plus a few spares so that
 * replacing a value in a full map can still build the new element beside the
 * old one and swap it in atomically (the kernel keeps per-CPU extra elements
 * for the same reason).  Per-CPU values live inline in the element, one
 * 8-byte-rounded slot per possible CPU.
 *
 * LRU maps take their elements from the kernel's LRU lists (lru_list.c):
 * an update on a full map evicts what the kernel would evict, in the same
 * batches; lookups only set the element's ref byte, lock-free.
 */
#include <net/if.h>
#include <stddef.h>

#include "lru_list.h"
#include "map_impl.h"

struct htab_elem {
    struct htab_elem *next;      /* bucket chain or a nulls marker */
    union {                      /* kept apart from next so readers never see it */
        struct htab_elem *free_next;  /* plain maps: free list link */
        struct dp_lru_node lru;       /* LRU maps: the element's place in the LRU lists */
    };
    uint32_t hash;
    uint8_t linked;              /* in a bucket list (changed under the bucket lock) */
    uint8_t pad[3];
    char key[];                  /* key rounded to 8, then the value area */
};

#define ELEM_OF(node) ((struct htab_elem *)((char *)(node) - offsetof(struct htab_elem, lru)))

struct bucket {
    struct htab_elem *head;
    dp_spinlock_t lock;
};

enum { HT_PLAIN, HT_PERCPU, HT_LRU, HT_LRU_PERCPU, HT_DEVMAP };

struct htab {
    struct dp_map map;
    struct bucket *buckets;
    uint32_t n_buckets;
    uint32_t kind;
    uint32_t key_room;   /* round_up(key_size, 8) */
    uint32_t elem_bytes;
    uint32_t pool_n;
    char *pool;
    uint64_t seed;
    long count;          /* live elements (atomic) */
    dp_spinlock_t free_lock;
    struct htab_elem *free_head;
    struct dp_lru lru;
};

#define NULLS(b) ((struct htab_elem *)(((uintptr_t)(b) << 1) | 1))
#define IS_NULLS(p) ((uintptr_t)(p) & 1)
#define NULLS_VAL(p) ((uint32_t)((uintptr_t)(p) >> 1))

static inline int is_percpu(const struct htab *h) { return h->kind == HT_PERCPU || h->kind == HT_LRU_PERCPU; }
static inline int is_lru(const struct htab *h) { return h->kind == HT_LRU || h->kind == HT_LRU_PERCPU; }

static inline struct htab_elem *elem_at(struct htab *h, uint32_t i)
{
    return (struct htab_elem *)(h->pool + (uint64_t)i * h->elem_bytes);
}

static inline char *elem_value(struct htab *h, struct htab_elem *e, uint32_t cpu)
{
    return e->key + h->key_room + (uint64_t)cpu * h->map.elem_size;
}

static inline uint32_t key_hash(struct htab *h, const void *key)
{
    return dp_hash(key, h->map.key_size, h->seed);
}

/* Lock-free lookup: restart if the walk ended in another bucket's nulls. */
static struct htab_elem *ht_find(struct htab *h, const void *key, uint32_t hash)
{
    uint32_t b = hash & (h->n_buckets - 1);
    struct htab_elem *e;
again:
    for (e = DP_LOAD(&h->buckets[b].head); !IS_NULLS(e); e = DP_LOAD(&e->next))
        if (e->hash == hash && dp_key_eq(e->key, key, h->map.key_size))
            return e;
    if (NULLS_VAL(e) != b)
        goto again;
    return NULL;
}

/* Under the bucket lock: the element and the link that points at it. */
static struct htab_elem *ht_find_locked(struct htab *h, struct bucket *bk, const void *key, uint32_t hash,
                                        struct htab_elem ***pprev)
{
    struct htab_elem **pp = &bk->head, *e;
    for (e = *pp; !IS_NULLS(e); pp = &e->next, e = *pp)
        if (e->hash == hash && dp_key_eq(e->key, key, h->map.key_size)) {
            *pprev = pp;
            return e;
        }
    return NULL;
}

static struct htab_elem *pop_free(struct htab *h)
{
    dp_spin_lock(&h->free_lock);
    struct htab_elem *e = h->free_head;
    if (e)
        h->free_head = e->free_next;
    dp_spin_unlock(&h->free_lock);
    return e;
}

static void push_free(struct htab *h, struct htab_elem *e)
{
    dp_spin_lock(&h->free_lock);
    e->free_next = h->free_head;
    h->free_head = e;
    dp_spin_unlock(&h->free_lock);
}

/* Unlink under the bucket lock; the element's own next pointer is left
 * intact so readers standing on it can finish their walk. */
static inline void unlink_locked(struct htab *h, struct htab_elem **pprev, struct htab_elem *e)
{
    DP_STORE(pprev, e->next);
    e->linked = 0;
    __atomic_fetch_sub(&h->count, 1, __ATOMIC_RELAXED);
}

/* The LRU's del_from_htab: unlink an element it evicts, if it is still linked. */
static int lru_del_from_htab(void *arg, struct dp_lru_node *node)
{
    struct htab *h = arg;
    struct htab_elem *e = ELEM_OF(node), **pp, *x;
    struct bucket *bk = &h->buckets[e->hash & (h->n_buckets - 1)];
    int found = 0;
    dp_spin_lock(&bk->lock);
    if (e->linked) {
        for (pp = &bk->head, x = *pp; !IS_NULLS(x) && x != e; pp = &x->next, x = *pp)
            ;
        if (x == e) {
            unlink_locked(h, pp, e);
            found = 1;
        }
    }
    dp_spin_unlock(&bk->lock);
    return found;
}

static inline void free_elem(struct htab *h, struct htab_elem *e)
{
    if (is_lru(h))
        dp_lru_push_free(&h->lru, &e->lru);
    else
        push_free(h, e);
}

/* Fill a new element's value.  cpu == UINT32_MAX: all CPUs from a syscall
 * buffer (8-byte-rounded slots); otherwise that CPU gets the value and the
 * other CPUs are zeroed (pcpu_init_value). */
static void fill_value(struct htab *h, struct htab_elem *e, const void *value, uint32_t cpu)
{
    if (!is_percpu(h)) {
        memcpy(elem_value(h, e, 0), value, h->map.value_size);
        return;
    }
    if (cpu == UINT32_MAX) {
        memcpy(elem_value(h, e, 0), value, (uint64_t)h->map.elem_size * h->map.nr_cpus);
        return;
    }
    memset(elem_value(h, e, 0), 0, (uint64_t)h->map.elem_size * h->map.nr_cpus);
    memcpy(elem_value(h, e, cpu), value, h->map.value_size);
}

static void copy_percpu_in_place(struct htab *h, struct htab_elem *e, const void *value, uint32_t cpu)
{
    if (cpu == UINT32_MAX)
        memcpy(elem_value(h, e, 0), value, (uint64_t)h->map.elem_size * h->map.nr_cpus);
    else
        memcpy(elem_value(h, e, cpu), value, h->map.value_size);
}

static void publish(struct htab *h, struct bucket *bk, struct htab_elem *n, struct htab_elem **old_pprev,
                    struct htab_elem *old)
{
    n->linked = 1;
    if (old) {
        /* swap in place: readers see the old or the new element, never neither */
        n->next = old->next;
        DP_STORE(old_pprev, n);
        old->linked = 0;
    } else {
        n->next = bk->head;
        DP_STORE(&bk->head, n);
        __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    }
}

/* LRU_HASH / LRU_PERCPU_HASH, as htab_lru_map_update_elem and
 * htab_lru_percpu_map_update_elem: take a node from the LRU before the
 * bucket lock (that may evict), give it back if the update fails.  A
 * replaced element's successor starts referenced; a per-CPU element is
 * updated in place (the node taken for it goes back to the free list). */
static long ht_lru_update(struct htab *h, const void *key, const void *value, uint64_t flags, uint32_t cpu)
{
    uint32_t hash = key_hash(h, key);
    struct bucket *bk = &h->buckets[hash & (h->n_buckets - 1)];
    struct htab_elem *n = NULL, *old, **pprev = NULL;
    int pcpu = h->kind == HT_LRU_PERCPU;
    long ret = 0;

    if (!(pcpu && flags == DP_EXIST)) {
        struct dp_lru_node *node = dp_lru_pop_free(&h->lru, dp_cur_cpu(&h->map));
        if (!node)
            return -ENOMEM;
        n = ELEM_OF(node);
        n->hash = hash;
        memcpy(n->key, key, h->map.key_size);
        if (!pcpu)
            fill_value(h, n, value, cpu);
    }
    dp_spin_lock(&bk->lock);
    old = ht_find_locked(h, bk, key, hash, &pprev);
    if (old && flags == DP_NOEXIST) {
        ret = -EEXIST;
        goto unlock;
    }
    if (!old && flags == DP_EXIST) {
        ret = -ENOENT;
        goto unlock;
    }
    if (pcpu && old) {
        dp_lru_set_ref(&old->lru);
        copy_percpu_in_place(h, old, value, cpu);
        goto unlock;
    }
    if (pcpu)
        fill_value(h, n, value, cpu);
    else if (old)
        dp_lru_set_ref(&n->lru);
    publish(h, bk, n, pprev, old);
    dp_spin_unlock(&bk->lock);
    if (old)
        dp_lru_push_free(&h->lru, &old->lru);
    return 0;
unlock:
    dp_spin_unlock(&bk->lock);
    if (n)
        dp_lru_push_free(&h->lru, &n->lru);
    return ret;
}

static long ht_update(struct htab *h, const void *key, const void *value, uint64_t flags, uint32_t cpu)
{
    if ((flags & ~(uint64_t)DP_F_LOCK) > DP_EXIST)
        return -EINVAL;
    if (flags & DP_F_LOCK) /* no map here has a bpf_spin_lock in its value */
        return -EINVAL;
    if (is_lru(h))
        return ht_lru_update(h, key, value, flags, cpu);
    uint32_t hash = key_hash(h, key);
    struct bucket *bk = &h->buckets[hash & (h->n_buckets - 1)];
    struct htab_elem *n = NULL, *old, **pprev = NULL;
    long ret = 0;

    dp_spin_lock(&bk->lock);
    old = ht_find_locked(h, bk, key, hash, &pprev);
    if (old && flags == DP_NOEXIST) {
        ret = -EEXIST;
        goto unlock;
    }
    if (!old && flags == DP_EXIST && h->kind != HT_DEVMAP) {
        ret = -ENOENT;
        goto unlock;
    }
    if (old && is_percpu(h)) {
        copy_percpu_in_place(h, old, value, cpu);
        goto unlock;
    }
    if (!old && __atomic_fetch_add(&h->count, 0, __ATOMIC_RELAXED) >= (long)h->map.max_entries) {
        ret = -E2BIG;
        goto unlock;
    }
    n = pop_free(h);
    if (!n) {
        if (!old) {
            ret = -E2BIG;
            goto unlock;
        }
        /* every spare is in flight elsewhere: overwrite in place */
        memcpy(elem_value(h, old, 0), value, h->map.value_size);
        goto unlock;
    }
    n->hash = hash;
    memcpy(n->key, key, h->map.key_size);
    fill_value(h, n, value, cpu);
    publish(h, bk, n, pprev, old);
    dp_spin_unlock(&bk->lock);
    if (old)
        push_free(h, old);
    return 0;
unlock:
    dp_spin_unlock(&bk->lock);
    return ret;
}

/* ---- ops ---- */

static void *ht_lookup(struct dp_map *m, const void *key)
{
    struct htab *h = (struct htab *)m;
    struct htab_elem *e = ht_find(h, key, key_hash(h, key));
    if (!e)
        return NULL;
    if (is_lru(h))
        dp_lru_set_ref(&e->lru);
    return elem_value(h, e, is_percpu(h) ? dp_cur_cpu(m) : 0);
}

static void *ht_peek_value(struct dp_map *m, const void *key)
{
    struct htab *h = (struct htab *)m;
    struct htab_elem *e = ht_find(h, key, key_hash(h, key));
    return e ? elem_value(h, e, is_percpu(h) ? dp_cur_cpu(m) : 0) : NULL;
}

static void *ht_lookup_percpu(struct dp_map *m, const void *key, uint32_t cpu)
{
    struct htab *h = (struct htab *)m;
    if (!is_percpu(h) || cpu >= m->nr_cpus)
        return NULL;
    struct htab_elem *e = ht_find(h, key, key_hash(h, key));
    if (!e)
        return NULL;
    if (is_lru(h))
        dp_lru_set_ref(&e->lru);
    return elem_value(h, e, cpu);
}

static long ht_prog_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct htab *h = (struct htab *)m;
    return ht_update(h, key, value, flags, is_percpu(h) ? dp_cur_cpu(m) : 0);
}

static long ht_delete(struct dp_map *m, const void *key)
{
    struct htab *h = (struct htab *)m;
    uint32_t hash = key_hash(h, key);
    struct bucket *bk = &h->buckets[hash & (h->n_buckets - 1)];
    struct htab_elem **pprev, *e;
    dp_spin_lock(&bk->lock);
    e = ht_find_locked(h, bk, key, hash, &pprev);
    if (e)
        unlink_locked(h, pprev, e);
    dp_spin_unlock(&bk->lock);
    if (!e)
        return -ENOENT;
    free_elem(h, e);
    return 0;
}

static long ht_get_next_key(struct dp_map *m, const void *key, void *next_key)
{
    struct htab *h = (struct htab *)m;
    uint32_t b = 0;
    if (key) {
        uint32_t hash = key_hash(h, key);
        struct htab_elem *e = ht_find(h, key, hash);
        if (e) {
            struct htab_elem *n = DP_LOAD(&e->next);
            if (!IS_NULLS(n)) {
                memcpy(next_key, n->key, m->key_size);
                return 0;
            }
            b = (hash & (h->n_buckets - 1)) + 1;
        }
    }
    for (; b < h->n_buckets; b++) {
        struct htab_elem *e = DP_LOAD(&h->buckets[b].head);
        if (!IS_NULLS(e)) {
            memcpy(next_key, e->key, m->key_size);
            return 0;
        }
    }
    return -ENOENT;
}

static void copy_out(struct htab *h, struct htab_elem *e, void *value)
{
    if (is_percpu(h))
        memcpy(value, elem_value(h, e, 0), (uint64_t)h->map.elem_size * h->map.nr_cpus);
    else
        memcpy(value, elem_value(h, e, 0), h->map.value_size);
}

static long ht_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    struct htab *h = (struct htab *)m;
    /* the syscall side does not mark LRU elements referenced */
    struct htab_elem *e = ht_find(h, key, key_hash(h, key));
    if (!e)
        return -ENOENT;
    copy_out(h, e, value);
    return 0;
}

static long ht_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct htab *h = (struct htab *)m;
    return ht_update(h, key, value, flags, is_percpu(h) ? UINT32_MAX : 0);
}

static long ht_lookup_and_delete(struct dp_map *m, const void *key, void *value, uint64_t flags)
{
    struct htab *h = (struct htab *)m;
    if (flags & DP_F_LOCK)
        return -EINVAL;
    uint32_t hash = key_hash(h, key);
    struct bucket *bk = &h->buckets[hash & (h->n_buckets - 1)];
    struct htab_elem **pprev, *e;
    dp_spin_lock(&bk->lock);
    e = ht_find_locked(h, bk, key, hash, &pprev);
    if (e) {
        copy_out(h, e, value);
        unlink_locked(h, pprev, e);
    }
    dp_spin_unlock(&bk->lock);
    if (!e)
        return -ENOENT;
    free_elem(h, e);
    return 0;
}

/* DEVMAP_HASH: the value names a net device that must exist (ifindex in the
 * current network namespace); an 8-byte value's program fd <= 0 means none
 * and reads back as id 0. */
static long devmap_value(const void *value, uint32_t value_size, unsigned char out[8])
{
    uint32_t ifindex;
    char name[IF_NAMESIZE];
    memcpy(out, value, value_size);
    memcpy(&ifindex, out, 4);
    if (!ifindex || !if_indextoname(ifindex, name))
        return -EINVAL;
    if (value_size == 8) {
        int32_t fd;
        memcpy(&fd, out + 4, 4);
        if (fd <= 0)
            memset(out + 4, 0, 4);
    }
    return 0;
}

static long dh_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct htab *h = (struct htab *)m;
    unsigned char v[8];
    if (flags > DP_EXIST)
        return -EINVAL;
    if (flags == DP_NOEXIST && ht_find(h, key, key_hash(h, key)))
        return -EEXIST;
    long err = devmap_value(value, m->value_size, v);
    if (err)
        return err;
    return ht_update(h, key, v, flags, 0);
}

static void ht_destroy(struct dp_map *m)
{
    struct htab *h = (struct htab *)m;
    if (is_lru(h))
        dp_lru_destroy(&h->lru);
    free(h->buckets);
    free(h->pool);
    free(h);
}

static const struct dp_map_ops htab_ops = {
    .lookup = ht_lookup,
    .lookup_percpu = ht_lookup_percpu,
    .update = ht_prog_update,
    .delete_elem = ht_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = ht_get_next_key,
    .sys_lookup = ht_sys_lookup,
    .sys_update = ht_sys_update,
    .sys_delete = ht_delete,
    .sys_lookup_and_delete = ht_lookup_and_delete,
    .destroy = ht_destroy,
    .peek_value = ht_peek_value,
};

static const struct dp_map_ops devmap_hash_ops = {
    .lookup = ht_lookup,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = dh_sys_update,
    .delete_elem = ht_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = ht_get_next_key,
    .sys_lookup = ht_sys_lookup,
    .sys_update = dh_sys_update,
    .sys_delete = ht_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = ht_destroy,
};

static long htab_check(const struct dp_map_attr *a)
{
    uint32_t t = a->map_type, f = a->map_flags;
    if (t == DP_MAP_DEVMAP_HASH) {
        if (a->max_entries == 0 || a->key_size != 4 || (a->value_size != 4 && a->value_size != 8) ||
            (f & ~(DP_F_NUMA_NODE | DP_F_RDONLY | DP_F_WRONLY)))
            return -EINVAL;
        return 0;
    }
    int lru = t == DP_MAP_LRU_HASH || t == DP_MAP_LRU_PERCPU_HASH;
    int percpu = t == DP_MAP_PERCPU_HASH || t == DP_MAP_LRU_PERCPU_HASH;
    uint32_t mask = DP_F_NO_PREALLOC | DP_F_NO_COMMON_LRU | DP_F_NUMA_NODE | DP_F_ACCESS_MASK | DP_F_ZERO_SEED;
    if ((f & ~mask) || ((f & DP_F_RDONLY_PROG) && (f & DP_F_WRONLY_PROG)))
        return -EINVAL;
    if (!lru && (f & DP_F_NO_COMMON_LRU))
        return -EINVAL;
    if (lru && (f & DP_F_NO_PREALLOC))
        return -DP_ENOTSUPP;
    if (a->max_entries == 0 || a->key_size == 0 || a->value_size == 0)
        return -EINVAL;
    if ((uint64_t)a->key_size + a->value_size >= DP_KMALLOC_MAX_SIZE - 48)
        return -E2BIG;
    if (percpu && DP_ROUND_UP(a->value_size, 8) > DP_PCPU_MIN_UNIT_SIZE)
        return -E2BIG;
    return 0;
}

/* The sizes create allocates, from the attributes alone: dp_htab_create
 * builds the map with them and dp_htab_mem_bytes adds them up for the
 * service's map memory budget (limits.map_memory_bytes), so the budget
 * counts what this file allocates, never a guess that drifts from it. */
struct htab_geom {
    uint32_t max_entries, n_buckets, key_room, elem_bytes, pool_n;
};

static void htab_geometry(const struct dp_map_attr *attr, struct htab_geom *g)
{
    uint32_t t = attr->map_type, nr_cpus = attr->nr_cpus ? attr->nr_cpus : 1;   /* as dp_map_init_common */
    int lru = t == DP_MAP_LRU_HASH || t == DP_MAP_LRU_PERCPU_HASH;
    int percpu = t == DP_MAP_PERCPU_HASH || t == DP_MAP_LRU_PERCPU_HASH;
    g->max_entries = attr->max_entries;
    if (lru && (attr->map_flags & DP_F_NO_COMMON_LRU)) {
        /* per-CPU LRU lists: the kernel rounds max_entries up to a multiple of the CPUs */
        uint64_t me = ((uint64_t)attr->max_entries + nr_cpus - 1) / nr_cpus * nr_cpus;
        if (me > UINT32_MAX)
            me = (uint64_t)attr->max_entries / nr_cpus * nr_cpus;
        g->max_entries = (uint32_t)me;
    }
    uint32_t nb = 1;
    while (nb < g->max_entries && nb < (1U << 31))
        nb <<= 1;
    g->n_buckets = nb;
    g->key_room = DP_ROUND_UP(attr->key_size, 8);
    uint64_t vsize = DP_ROUND_UP(attr->value_size, 8);
    uint64_t vroom = percpu ? vsize * nr_cpus : vsize;
    g->elem_bytes = (uint32_t)(sizeof(struct htab_elem) + g->key_room + vroom);
    g->pool_n = g->max_entries + (lru ? 0 : nr_cpus + 16);
}

uint64_t dp_htab_mem_bytes(const struct dp_map_attr *attr)
{
    struct htab_geom g;
    htab_geometry(attr, &g);
    return sizeof(struct htab) + (uint64_t)g.n_buckets * sizeof(struct bucket) +
           (uint64_t)g.pool_n * g.elem_bytes;
}

long dp_htab_create(const struct dp_map_attr *attr, struct dp_map **out)
{
    long err = htab_check(attr);
    if (err)
        return err;
    struct htab *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    dp_map_init_common(&h->map, attr);
    switch (attr->map_type) {
    case DP_MAP_PERCPU_HASH: h->kind = HT_PERCPU; break;
    case DP_MAP_LRU_HASH: h->kind = HT_LRU; break;
    case DP_MAP_LRU_PERCPU_HASH: h->kind = HT_LRU_PERCPU; break;
    case DP_MAP_DEVMAP_HASH: h->kind = HT_DEVMAP; break;
    default: h->kind = HT_PLAIN;
    }
    struct htab_geom g;
    htab_geometry(attr, &g);
    h->map.max_entries = g.max_entries;
    uint32_t nb = g.n_buckets;
    h->n_buckets = nb;
    h->key_room = g.key_room;
    h->elem_bytes = g.elem_bytes;
    h->pool_n = g.pool_n;
    h->buckets = calloc(nb, sizeof(struct bucket));
    h->pool = calloc(h->pool_n, h->elem_bytes);
    if (!h->buckets || !h->pool) {
        ht_destroy(&h->map);
        return -ENOMEM;
    }
    for (uint32_t b = 0; b < nb; b++)
        h->buckets[b].head = NULLS(b);
    for (uint32_t i = 0; i < h->pool_n; i++)
        elem_at(h, i)->next = NULLS(0);
    if (is_lru(h)) {
        /* as prealloc_init: every element starts on the LRU's free lists */
        if (dp_lru_init(&h->lru, attr->map_flags & DP_F_NO_COMMON_LRU, h->map.nr_cpus, lru_del_from_htab, h)) {
            ht_destroy(&h->map);
            return -ENOMEM;
        }
        dp_lru_populate(&h->lru, h->pool, offsetof(struct htab_elem, lru), h->elem_bytes, h->pool_n);
    } else {
        for (uint32_t i = h->pool_n; i-- > 0;) {
            struct htab_elem *e = elem_at(h, i);
            e->free_next = h->free_head;
            h->free_head = e;
        }
    }
    if (!(attr->map_flags & DP_F_ZERO_SEED)) {
        uint64_t s = (uint64_t)(uintptr_t)h ^ 0x5851f42d4c957f2dULL;
        s ^= (uint64_t)rand() << 17;
        h->seed = s;
    }
    h->map.ops = h->kind == HT_DEVMAP ? &devmap_hash_ops : &htab_ops;
    h->map.value_base = h->pool;
    h->map.value_region_size = (uint64_t)h->pool_n * h->elem_bytes;
    *out = &h->map;
    return 0;
}

/* Live elements: the counter every link/unlink (update, delete, LRU
 * eviction) adjusts atomically, so counting needs no walk and no lock. */
uint64_t dp_htab_count(struct dp_map *m)
{
    long n = __atomic_load_n(&((struct htab *)m)->count, __ATOMIC_RELAXED);
    return n < 0 ? 0 : (uint64_t)n;
}
