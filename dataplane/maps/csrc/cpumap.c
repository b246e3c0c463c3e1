/* CPUMAP (kernel/bpf/cpumap.c): one entry per possible CPU, the target of
 * bpf_redirect_map().  In the kernel an entry is a queue of `qsize` frames
 * drained by a kthread on that CPU, which runs the entry's optional XDP
 * program (expected attach type BPF_XDP_CPUMAP) and passes the survivors to
 * the network stack.  Here an entry records qsize and the program; the
 * redirect itself is the runtime's (verdict REDIRECT with the map and key).
 *
 * Values: struct bpf_cpumap_val {u32 qsize; union {int fd; u32 id;} bpf_prog;}
 * or just the qsize (value_size 4).  Updates follow cpu_map_update_elem:
 * flags, E2BIG past max_entries, EEXIST for BPF_NOEXIST, EOVERFLOW for a
 * qsize over 16384, ENODEV for an impossible CPU, qsize 0 deletes. */
#include "map_impl.h"

#define CPUMAP_MAX_QSIZE 16384

static uint32_t nr_cpus_limit = 8192;   /* the kernel's NR_CPUS (set from its config) */

void dp_cpumap_set_nr_cpus(uint32_t n)
{
    if (n)
        nr_cpus_limit = n;
}

struct cpumap {
    struct dp_map map;
    struct dp_cpumap_entry *entries;
    dp_spinlock_t lock;
};

static inline uint32_t key_index(const void *key) { return *(const uint32_t *)key; }

static void *cm_lookup(struct dp_map *m, const void *key)
{
    struct cpumap *c = (struct cpumap *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return NULL;
    return DP_LOAD(&c->entries[idx].present) ? &c->entries[idx] : NULL;
}

static long cm_next(struct dp_map *m, const void *key, void *next_key)
{
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

static long cm_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    struct cpumap *c = (struct cpumap *)m;
    uint32_t idx = key_index(key), v[2];
    if (idx >= m->max_entries)
        return -ENOENT;
    dp_spin_lock(&c->lock);
    struct dp_cpumap_entry *e = &c->entries[idx];
    int present = (int)e->present;
    v[0] = e->qsize;
    v[1] = e->prog_id;
    dp_spin_unlock(&c->lock);
    if (!present)
        return -ENOENT;
    memcpy(value, v, m->value_size);
    return 0;
}

long dp_cpumap_update(struct dp_map *m, const void *key, uint32_t qsize, void *prog, uint32_t prog_id,
                      uint64_t flags)
{
    struct cpumap *c = (struct cpumap *)m;
    uint32_t idx = key_index(key);
    if (m->map_type != DP_MAP_CPUMAP)
        return -EINVAL;
    if (flags > DP_EXIST)
        return -EINVAL;
    if (idx >= m->max_entries)
        return -E2BIG;
    if (flags == DP_NOEXIST)
        return -EEXIST;
    if (qsize > CPUMAP_MAX_QSIZE)
        return -EOVERFLOW;
    if (idx >= m->nr_cpus)
        return -ENODEV;   /* not a possible CPU */
    struct dp_cpumap_entry *e = &c->entries[idx];
    dp_spin_lock(&c->lock);
    DP_STORE(&e->present, 0);
    if (qsize) {
        e->qsize = qsize;
        e->prog_id = prog ? prog_id : 0;
        DP_STORE(&e->prog, prog);
        DP_STORE(&e->present, 1);
    } else {
        e->qsize = 0;
        e->prog_id = 0;
        DP_STORE(&e->prog, NULL);
    }
    dp_spin_unlock(&c->lock);
    return 0;
}

static long cm_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    uint32_t v[2] = {0, 0};
    memcpy(v, value, m->value_size);
    /* a program fd needs the runtime (core.pyx resolves it); an fd nothing
     * resolves fails like the kernel's entry allocation */
    if (m->value_size == 8 && (int32_t)v[1] > 0)
        return -ENOMEM;
    return dp_cpumap_update(m, key, v[0], NULL, 0, flags);
}

static long cm_delete(struct dp_map *m, const void *key)
{
    struct cpumap *c = (struct cpumap *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return -EINVAL;
    struct dp_cpumap_entry *e = &c->entries[idx];
    dp_spin_lock(&c->lock);
    DP_STORE(&e->present, 0);
    e->qsize = 0;
    e->prog_id = 0;
    DP_STORE(&e->prog, NULL);
    dp_spin_unlock(&c->lock);
    return 0;
}

static void cm_destroy(struct dp_map *m)
{
    struct cpumap *c = (struct cpumap *)m;
    free(c->entries);
    free(c);
}

static const struct dp_map_ops cpumap_ops = {
    .lookup = cm_lookup,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = dp_update_enotsupp,
    .delete_elem = cm_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = cm_next,
    .sys_lookup = cm_sys_lookup,
    .sys_update = cm_sys_update,
    .sys_delete = cm_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = cm_destroy,
};

long dp_cpumap_create(const struct dp_map_attr *a, struct dp_map **out)
{
    /* cpu_map_alloc */
    if (a->max_entries == 0 || a->key_size != 4 || (a->value_size != 4 && a->value_size != 8) ||
        (a->map_flags & ~DP_F_NUMA_NODE))
        return -EINVAL;
    if (a->max_entries > nr_cpus_limit)
        return -E2BIG;
    struct cpumap *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    dp_map_init_common(&c->map, a);
    c->entries = calloc(a->max_entries, sizeof(struct dp_cpumap_entry));
    if (!c->entries) {
        free(c);
        return -ENOMEM;
    }
    c->map.value_base = (char *)c->entries;
    c->map.value_region_size = (uint64_t)a->max_entries * sizeof(struct dp_cpumap_entry);
    c->map.ops = &cpumap_ops;
    *out = &c->map;
    return 0;
}
