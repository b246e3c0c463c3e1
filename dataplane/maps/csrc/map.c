/* Map creation (the generic part of the kernel's map_create) and helpers
 * shared by every map type. */
#include <ctype.h>

#include "map_impl.h"

__thread uint32_t dp_this_cpu;

void dp_maps_set_cpu(uint32_t cpu) { dp_this_cpu = cpu; }
uint32_t dp_maps_get_cpu(void) { return dp_this_cpu; }

void *dp_lookup_null(struct dp_map *m, const void *key) { (void)m; (void)key; return NULL; }
void *dp_lookup_percpu_null(struct dp_map *m, const void *key, uint32_t cpu)
{
    (void)m; (void)key; (void)cpu;
    return NULL;
}
long dp_op_einval(void) { return -EINVAL; }
long dp_op_enotsupp(void) { return -DP_ENOTSUPP; }
long dp_update_enotsupp(struct dp_map *m, const void *k, const void *v, uint64_t f)
{
    (void)m; (void)k; (void)v; (void)f;
    return -DP_ENOTSUPP;
}
long dp_delete_enotsupp(struct dp_map *m, const void *k) { (void)m; (void)k; return -DP_ENOTSUPP; }
long dp_push_enotsupp(struct dp_map *m, const void *v, uint64_t f) { (void)m; (void)v; (void)f; return -DP_ENOTSUPP; }
long dp_pop_enotsupp(struct dp_map *m, void *v) { (void)m; (void)v; return -DP_ENOTSUPP; }
long dp_lookup_and_delete_enotsupp(struct dp_map *m, const void *k, void *v, uint64_t f)
{
    (void)m; (void)k; (void)v; (void)f;
    return -DP_ENOTSUPP;
}

void dp_map_init_common(struct dp_map *m, const struct dp_map_attr *attr)
{
    m->map_type = attr->map_type;
    m->key_size = attr->key_size;
    m->value_size = attr->value_size;
    m->max_entries = attr->max_entries;
    m->map_flags = attr->map_flags;
    m->nr_cpus = attr->nr_cpus ? attr->nr_cpus : 1;
    m->elem_size = DP_ROUND_UP(attr->value_size, 8);
    m->sys_value_size = dp_is_percpu(attr->map_type) ? m->elem_size * m->nr_cpus : attr->value_size;
    memcpy(m->name, attr->name, sizeof(m->name));
}

/* bpf_obj_name_cpy: NUL-terminated within 16 bytes, only [A-Za-z0-9_.]. */
static long check_name(const char *name)
{
    for (int i = 0; i < 16; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == 0)
            return 0;
        if (!isalnum(c) && c != '_' && c != '.')
            return -EINVAL;
    }
    return -EINVAL;
}

uint64_t dp_map_mem_bytes(const struct dp_map_attr *attr)
{
    switch (attr->map_type) {
    case DP_MAP_HASH:
    case DP_MAP_PERCPU_HASH:
    case DP_MAP_LRU_HASH:
    case DP_MAP_LRU_PERCPU_HASH:
    case DP_MAP_DEVMAP_HASH:
        return dp_htab_mem_bytes(attr);
    case DP_MAP_ARRAY:
    case DP_MAP_PERCPU_ARRAY:
    case DP_MAP_PROG_ARRAY:
    case DP_MAP_DEVMAP:
    case DP_MAP_XSKMAP:
        return dp_array_mem_bytes(attr);
    default:
        return 0;
    }
}

long dp_map_create(const struct dp_map_attr *attr, struct dp_map **out)
{
    long err;
    *out = NULL;
    /* bpf_get_file_flag: read-only and write-only together make no sense */
    if ((attr->map_flags & DP_F_RDONLY) && (attr->map_flags & DP_F_WRONLY))
        return -EINVAL;
    switch (attr->map_type) {
    case DP_MAP_HASH:
    case DP_MAP_PERCPU_HASH:
    case DP_MAP_LRU_HASH:
    case DP_MAP_LRU_PERCPU_HASH:
    case DP_MAP_DEVMAP_HASH:
        err = dp_htab_create(attr, out);
        break;
    case DP_MAP_ARRAY:
    case DP_MAP_PERCPU_ARRAY:
    case DP_MAP_PROG_ARRAY:
    case DP_MAP_DEVMAP:
    case DP_MAP_XSKMAP:
        err = dp_array_create(attr, out);
        break;
    case DP_MAP_LPM_TRIE:
        err = dp_lpm_create(attr, out);
        break;
    case DP_MAP_QUEUE:
    case DP_MAP_STACK:
        err = dp_qs_create(attr, out);
        break;
    case DP_MAP_RINGBUF:
        err = dp_ringbuf_create(attr, out);
        break;
    case DP_MAP_BLOOM_FILTER:
        err = dp_bloom_create(attr, out);
        break;
    case DP_MAP_CPUMAP:
        err = dp_cpumap_create(attr, out);
        break;
    case DP_MAP_ARRAY_OF_MAPS:
    case DP_MAP_HASH_OF_MAPS:
        return -EINVAL;   /* they need an inner template: dp_map_create_outer */
    default:
        return -EINVAL;
    }
    if (err)
        return err;
    /* the kernel copies the name after allocating the map */
    err = check_name(attr->name);
    if (err) {
        dp_map_destroy(*out);
        *out = NULL;
    }
    return err;
}

long dp_map_create_outer(const struct dp_map_attr *attr, const struct dp_map *tmpl, struct dp_map **out)
{
    long err;
    *out = NULL;
    if ((attr->map_flags & DP_F_RDONLY) && (attr->map_flags & DP_F_WRONLY))
        return -EINVAL;
    err = dp_mim_create(attr, tmpl, out);
    if (err)
        return err;
    err = check_name(attr->name);
    if (err) {
        dp_map_destroy(*out);
        *out = NULL;
    }
    return err;
}

void dp_map_destroy(struct dp_map *m)
{
    if (m)
        m->ops->destroy(m);
}

uint64_t dp_map_count(struct dp_map *m)
{
    switch (m->map_type) {
    case DP_MAP_HASH:
    case DP_MAP_PERCPU_HASH:
    case DP_MAP_LRU_HASH:
    case DP_MAP_LRU_PERCPU_HASH:
    case DP_MAP_DEVMAP_HASH:
        return dp_htab_count(m);
    case DP_MAP_LPM_TRIE:
        return dp_lpm_count(m);
    case DP_MAP_QUEUE:
    case DP_MAP_STACK:
        return dp_qs_count(m);
    case DP_MAP_RINGBUF:
    case DP_MAP_BLOOM_FILTER:     /* keyless: nothing to count or walk */
        return 0;
    case DP_MAP_HASH_OF_MAPS:
        return dp_mim_count(m);
    default:
        /* arrays (incl. PROG_ARRAY, DEVMAP, XSKMAP): every index is a key that
         * get_next_key walks, present or empty, as in the kernel */
        return m->max_entries;
    }
}
