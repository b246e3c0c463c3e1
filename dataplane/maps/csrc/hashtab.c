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
 * LRU: the kernel approximates LRU with per-element reference bits set by
 * lookups and active/inactive lists.  We keep the reference bits and evict
 * with a CLOCK hand over the pool (second chance): lookups stay lock-free
 * writes of one byte, and an update on a full map evicts an element that was
 * not referenced since the hand last passed it, instead of failing.
 */
#include <net/if.h>

#include "map_impl.h"

struct htab_elem {
    struct htab_elem *next;      /* bucket chain or a nulls marker */
    struct htab_elem *free_next; /* free list link (kept apart so readers never see it) */
    uint32_t hash;
    uint8_t ref;                 /* LRU: referenced since the clock hand passed */
    uint8_t linked;              /* in a bucket list (changed under the bucket lock) */
    uint8_t pad[2];
    char key[];                  /* key rounded to 8, then the value area */
};

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
    dp_spinlock_t lru_lock;
    uint32_t clock_hand;
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

/* LRU allocation: a free element, else evict with the CLOCK hand. */
static struct htab_elem *lru_pop(struct htab *h)
{
    struct htab_elem *e = pop_free(h);
    if (e)
        return e;
    dp_spin_lock(&h->lru_lock);
    for (uint64_t step = 0; step < 2ULL * h->pool_n + 1; step++) {
        e = elem_at(h, h->clock_hand);
        if (++h->clock_hand >= h->pool_n)
            h->clock_hand = 0;
        if (!DP_LOAD(&e->linked))
            continue;
        if (e->ref) {
            e->ref = 0;
            continue;
        }
        struct bucket *bk = &h->buckets[e->hash & (h->n_buckets - 1)];
        dp_spin_lock(&bk->lock);
        if (e->linked) {
            struct htab_elem **pp = &bk->head, *x;
            for (x = *pp; !IS_NULLS(x) && x != e; pp = &x->next, x = *pp)
                ;
            if (x == e) {
                unlink_locked(h, pp, e);
                dp_spin_unlock(&bk->lock);
                dp_spin_unlock(&h->lru_lock);
                return e;
            }
        }
        dp_spin_unlock(&bk->lock);
    }
    dp_spin_unlock(&h->lru_lock);
    return NULL;
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

static long ht_update(struct htab *h, const void *key, const void *value, uint64_t flags, uint32_t cpu)
{
    if ((flags & ~(uint64_t)DP_F_LOCK) > DP_EXIST)
        return -EINVAL;
    if (flags & DP_F_LOCK) /* no map here has a bpf_spin_lock in its value */
        return -EINVAL;
    uint32_t hash = key_hash(h, key);
    struct bucket *bk = &h->buckets[hash & (h->n_buckets - 1)];
    struct htab_elem *n = NULL, *old, **pprev = NULL;
    long ret = 0;

    if (is_lru(h) && !(h->kind == HT_LRU_PERCPU && flags == DP_EXIST)) {
        /* like the kernel, allocate (maybe evict) before taking the bucket lock */
        n = lru_pop(h);
        if (!n)
            return -ENOMEM;
        n->hash = hash;
        n->ref = 0;
        memcpy(n->key, key, h->map.key_size);
        fill_value(h, n, value, cpu);
    }
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
        if (is_lru(h))
            old->ref = 1;
        goto unlock;
    }
    if (!n) {
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
        n->ref = 0;
        memcpy(n->key, key, h->map.key_size);
        fill_value(h, n, value, cpu);
    }
    publish(h, bk, n, pprev, old);
    n = NULL;
    dp_spin_unlock(&bk->lock);
    if (old)
        push_free(h, old);
    return 0;
unlock:
    dp_spin_unlock(&bk->lock);
    if (n)
        push_free(h, n);
    return ret;
}

/* ---- ops ---- */

static void *ht_lookup(struct dp_map *m, const void *key)
{
    struct htab *h = (struct htab *)m;
    struct htab_elem *e = ht_find(h, key, key_hash(h, key));
    if (!e)
        return NULL;
    if (is_lru(h) && !e->ref)
        e->ref = 1;
    return elem_value(h, e, is_percpu(h) ? dp_cur_cpu(m) : 0);
}

static void *ht_lookup_percpu(struct dp_map *m, const void *key, uint32_t cpu)
{
    struct htab *h = (struct htab *)m;
    if (!is_percpu(h) || cpu >= m->nr_cpus)
        return NULL;
    struct htab_elem *e = ht_find(h, key, key_hash(h, key));
    if (!e)
        return NULL;
    if (is_lru(h) && !e->ref)
        e->ref = 1;
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
    push_free(h, e);
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
    push_free(h, e);
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
    if (is_lru(h) && (attr->map_flags & DP_F_NO_COMMON_LRU)) {
        /* per-CPU LRU lists: the kernel rounds max_entries up to a multiple of the CPUs */
        uint32_t n = h->map.nr_cpus;
        uint64_t me = ((uint64_t)attr->max_entries + n - 1) / n * n;
        if (me > UINT32_MAX)
            me = (uint64_t)attr->max_entries / n * n;
        h->map.max_entries = (uint32_t)me;
    }
    uint32_t nb = 1;
    while (nb < h->map.max_entries && nb < (1U << 31))
        nb <<= 1;
    h->n_buckets = nb;
    h->key_room = DP_ROUND_UP(attr->key_size, 8);
    uint64_t vroom = is_percpu(h) ? (uint64_t)h->map.elem_size * h->map.nr_cpus : h->map.elem_size;
    h->elem_bytes = (uint32_t)(sizeof(struct htab_elem) + h->key_room + vroom);
    h->pool_n = h->map.max_entries + (is_lru(h) ? 0 : h->map.nr_cpus + 16);
    h->buckets = calloc(nb, sizeof(struct bucket));
    h->pool = calloc(h->pool_n, h->elem_bytes);
    if (!h->buckets || !h->pool) {
        ht_destroy(&h->map);
        return -ENOMEM;
    }
    for (uint32_t b = 0; b < nb; b++)
        h->buckets[b].head = NULLS(b);
    for (uint32_t i = h->pool_n; i-- > 0;) {
        struct htab_elem *e = elem_at(h, i);
        e->next = NULLS(0);
        e->free_next = h->free_head;
        h->free_head = e;
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
