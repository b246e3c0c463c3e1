/* Map-in-map: ARRAY_OF_MAPS and HASH_OF_MAPS (kernel/bpf/arraymap.c's fd
 * arrays, hashtab.c's htab_of_maps, map_in_map.c).
 *
 * An outer map stores `struct dp_mim_slot {inner, id}` per key: arrays in a
 * slot table of their own, hashes in a plain hash map with 16-byte values
 * (so hash-of-maps shares hashtab.c's lock-free readers).  A program's
 * lookup returns the inner map pointer; a syscall lookup its id.  Storing
 * an inner map checks it against the template the outer map was created
 * with (bpf_map_meta_equal: type, key and value size, flags; arrays and
 * xskmaps also max_entries, unless the template has BPF_F_INNER_MAP).
 *
 * The outer map does not own its inner maps: the caller (core.pyx) keeps
 * them alive, including the ones a replace or delete took out (a program
 * may still be using them; the kernel waits for an RCU grace period). */
#include "map_impl.h"

struct mim {
    struct dp_map map;
    struct dp_mim_slot *slots;   /* ARRAY_OF_MAPS */
    struct dp_map *store;        /* HASH_OF_MAPS: HASH, key -> struct dp_mim_slot */
    struct dp_map_attr meta;     /* the inner template */
    dp_spinlock_t lock;          /* writers of array slots */
};

static inline uint32_t key_index(const void *key) { return *(const uint32_t *)key; }

static inline struct dp_mim_slot *hash_slot(struct mim *o, const void *key)
{
    return (struct dp_mim_slot *)o->store->ops->lookup(o->store, key);
}

/* ---- program side ---- */

static void *mim_lookup(struct dp_map *m, const void *key)
{
    struct mim *o = (struct mim *)m;
    struct dp_mim_slot *s;
    if (o->slots) {
        uint32_t idx = key_index(key);
        if (idx >= m->max_entries)
            return NULL;
        return DP_LOAD(&o->slots[idx].inner);
    }
    s = hash_slot(o, key);
    return s ? DP_LOAD(&s->inner) : NULL;
}

static long mim_prog_update(struct dp_map *m, const void *k, const void *v, uint64_t f)
{
    /* only user space stores inner maps (the verifier refuses the helper) */
    (void)m; (void)k; (void)v; (void)f;
    return -EINVAL;
}

static long mim_prog_delete(struct dp_map *m, const void *k) { (void)m; (void)k; return -EINVAL; }

static long mim_next(struct dp_map *m, const void *key, void *next_key)
{
    struct mim *o = (struct mim *)m;
    if (!o->slots)
        return o->store->ops->get_next_key(o->store, key, next_key);
    uint32_t idx = key ? key_index(key) : UINT32_MAX;
    uint32_t *next = next_key;
    if (idx >= m->max_entries) {
        *next = 0;
        return 0;
    }
    if (idx == m->max_entries - 1)
        return -ENOENT;
    *next = idx + 1;
    return 0;
}

/* ---- syscall side ---- */

static long mim_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    struct mim *o = (struct mim *)m;
    struct dp_mim_slot *s;
    uint32_t id = 0;
    struct dp_map *inner = NULL;
    if (o->slots) {
        uint32_t idx = key_index(key);
        if (idx >= m->max_entries)
            return -ENOENT;
        dp_spin_lock(&o->lock);
        inner = o->slots[idx].inner;
        id = o->slots[idx].id;
        dp_spin_unlock(&o->lock);
    } else if ((s = hash_slot(o, key)) != NULL) {
        inner = DP_LOAD(&s->inner);
        id = s->id;
    }
    if (!inner)
        return -ENOENT;
    memcpy(value, &id, 4);
    return 0;
}

static long mim_sys_update_bytes(struct dp_map *m, const void *k, const void *v, uint64_t f)
{
    /* the value is a map handle only the Python layer can resolve */
    (void)m; (void)k; (void)v; (void)f;
    return -EINVAL;
}

static long mim_sys_delete(struct dp_map *m, const void *key)
{
    struct dp_map *old;
    return dp_mim_delete(m, key, &old);
}

static int meta_equal(const struct dp_map_attr *meta, const struct dp_map *inner)
{
    if (meta->map_type != inner->map_type || meta->key_size != inner->key_size ||
        meta->value_size != inner->value_size || meta->map_flags != inner->map_flags)
        return 0;
    switch (meta->map_type) {
    case DP_MAP_ARRAY:
    case DP_MAP_PERCPU_ARRAY:
        /* array_map_meta_equal */
        return (meta->map_flags & DP_F_INNER_MAP) || meta->max_entries == inner->max_entries;
    case DP_MAP_XSKMAP:
        return meta->max_entries == inner->max_entries;
    default:
        return 1;
    }
}

long dp_mim_update(struct dp_map *m, const void *key, struct dp_map *inner, uint32_t id, uint64_t flags,
                   struct dp_map **old)
{
    struct mim *o = (struct mim *)m;
    *old = NULL;
    if (m->map_type != DP_MAP_ARRAY_OF_MAPS && m->map_type != DP_MAP_HASH_OF_MAPS)
        return -EINVAL;
    if (o->slots) {
        uint32_t idx = key_index(key);
        /* bpf_fd_array_map_update_elem: only BPF_ANY */
        if (flags != DP_ANY)
            return -EINVAL;
        if (idx >= m->max_entries)
            return -E2BIG;
        if (!inner || !meta_equal(&o->meta, inner))
            return -EINVAL;
        dp_spin_lock(&o->lock);
        *old = o->slots[idx].inner;
        o->slots[idx].id = id;
        DP_STORE(&o->slots[idx].inner, inner);
        dp_spin_unlock(&o->lock);
        return 0;
    }
    /* bpf_fd_htab_map_update_elem: the fd is resolved before the flags are looked at */
    if (!inner || !meta_equal(&o->meta, inner))
        return -EINVAL;
    struct dp_mim_slot s = {inner, id, 0};
    struct dp_mim_slot *prev = hash_slot(o, key);
    struct dp_map *was = prev ? DP_LOAD(&prev->inner) : NULL;
    long err = o->store->ops->sys_update(o->store, key, &s, flags);
    if (err)
        return err;
    *old = was;
    return 0;
}

long dp_mim_delete(struct dp_map *m, const void *key, struct dp_map **old)
{
    struct mim *o = (struct mim *)m;
    *old = NULL;
    if (m->map_type != DP_MAP_ARRAY_OF_MAPS && m->map_type != DP_MAP_HASH_OF_MAPS)
        return -EINVAL;
    if (o->slots) {
        uint32_t idx = key_index(key);
        if (idx >= m->max_entries)
            return -E2BIG;
        dp_spin_lock(&o->lock);
        *old = o->slots[idx].inner;
        DP_STORE(&o->slots[idx].inner, NULL);
        o->slots[idx].id = 0;
        dp_spin_unlock(&o->lock);
        return *old ? 0 : -ENOENT;
    }
    struct dp_mim_slot *prev = hash_slot(o, key);
    struct dp_map *was = prev ? DP_LOAD(&prev->inner) : NULL;
    long err = o->store->ops->sys_delete(o->store, key);
    if (!err)
        *old = was;
    return err;
}

static int mim_holds(struct dp_map *m, const void *inner)
{
    struct mim *o = (struct mim *)m;
    if (!inner)
        return 0;
    if (o->slots) {
        for (uint32_t i = 0; i < m->max_entries; i++)
            if (DP_LOAD(&o->slots[i].inner) == inner)
                return 1;
        return 0;
    }
    /* walk the hash in key order (bounded by its element count) */
    unsigned char kbuf[512], nbuf[512];
    const void *prev = NULL;
    if (m->key_size > sizeof(kbuf))
        return 0;
    for (uint64_t n = 0; n <= m->max_entries; n++) {
        if (o->store->ops->get_next_key(o->store, prev, nbuf))
            return 0;
        struct dp_mim_slot *s = hash_slot(o, nbuf);
        if (s && DP_LOAD(&s->inner) == inner)
            return 1;
        memcpy(kbuf, nbuf, m->key_size);
        prev = kbuf;
    }
    return 0;
}

uint64_t dp_mim_count(struct dp_map *m)
{
    struct mim *o = (struct mim *)m;
    return o->store ? dp_map_count(o->store) : m->max_entries;
}

static void mim_destroy(struct dp_map *m)
{
    struct mim *o = (struct mim *)m;
    if (o->store)
        dp_map_destroy(o->store);
    free(o->slots);
    free(o);
}

static const struct dp_map_ops mim_ops = {
    .lookup = mim_lookup,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = mim_prog_update,
    .delete_elem = mim_prog_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = mim_next,
    .sys_lookup = mim_sys_lookup,
    .sys_update = mim_sys_update_bytes,
    .sys_delete = mim_sys_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = mim_destroy,
    .holds = mim_holds,
};

/* fd_array_map_alloc_check + array_map_alloc_check / fd_htab_map_alloc_check
 * + htab_map_alloc_check, then bpf_map_meta_alloc on the template. */
static long mim_check(const struct dp_map_attr *a, const struct dp_map *tmpl)
{
    uint32_t f = a->map_flags;
    if (a->value_size != 4)
        return -EINVAL;
    if (a->map_type == DP_MAP_ARRAY_OF_MAPS) {
        uint32_t mask = DP_F_NUMA_NODE | DP_F_ACCESS_MASK;
        if ((f & (DP_F_RDONLY_PROG | DP_F_WRONLY_PROG)) || (f & ~mask))
            return -EINVAL;
        if (a->max_entries == 0 || a->key_size != 4)
            return -EINVAL;
    }
    /* hash-of-maps flags are checked by the hash store (htab_map_alloc_check) */
    if (!tmpl)
        return -EINVAL;      /* inner_map_fd does not name a map */
    if (tmpl->map_type == DP_MAP_ARRAY_OF_MAPS || tmpl->map_type == DP_MAP_HASH_OF_MAPS)
        return -EINVAL;      /* no more than one level */
    if (tmpl->map_type == DP_MAP_PROG_ARRAY)
        return -DP_ENOTSUPP; /* no map_meta_equal: prog arrays are bound to their owner */
    return 0;
}

long dp_mim_create(const struct dp_map_attr *attr, const struct dp_map *tmpl, struct dp_map **out)
{
    long err;
    struct mim *o;
    *out = NULL;
    if (attr->map_type != DP_MAP_ARRAY_OF_MAPS && attr->map_type != DP_MAP_HASH_OF_MAPS)
        return -EINVAL;
    if (attr->map_type == DP_MAP_HASH_OF_MAPS && attr->value_size != 4)
        return -EINVAL;
    struct dp_map *store = NULL;
    if (attr->map_type == DP_MAP_HASH_OF_MAPS) {
        struct dp_map_attr sa = *attr;
        sa.map_type = DP_MAP_HASH;
        sa.value_size = sizeof(struct dp_mim_slot);
        sa.map_flags &= ~(uint32_t)(DP_F_RDONLY | DP_F_WRONLY);
        err = dp_htab_create(&sa, &store);
        if (err)
            return err;
    }
    err = mim_check(attr, tmpl);
    if (err) {
        dp_map_destroy(store);
        return err;
    }
    o = calloc(1, sizeof(*o));
    if (!o) {
        dp_map_destroy(store);
        return -ENOMEM;
    }
    dp_map_init_common(&o->map, attr);
    o->store = store;
    if (!store) {
        o->slots = calloc(attr->max_entries, sizeof(struct dp_mim_slot));
        if (!o->slots) {
            free(o);
            return -ENOMEM;
        }
        o->map.value_base = (char *)o->slots;
        o->map.value_region_size = (uint64_t)attr->max_entries * sizeof(struct dp_mim_slot);
    } else {
        o->map.value_base = store->value_base;
        o->map.value_region_size = store->value_region_size;
    }
    o->meta.map_type = tmpl->map_type;
    o->meta.key_size = tmpl->key_size;
    o->meta.value_size = tmpl->value_size;
    o->meta.max_entries = tmpl->max_entries;
    o->meta.map_flags = tmpl->map_flags;
    o->meta.nr_cpus = tmpl->nr_cpus;
    o->map.ops = &mim_ops;
    *out = &o->map;
    return 0;
}
