/* Array maps: ARRAY and PERCPU_ARRAY (values preallocated and zeroed, never
 * deleted), and the "slot" arrays PROG_ARRAY, DEVMAP and XSKMAP whose slots
 * can be empty.
 *
 * ARRAY values sit at base + index * round_up(value_size, 8), the layout the
 * inline fast path in maps.h relies on.  PERCPU_ARRAY gives each CPU an area
 * of its own, as the kernel's per-CPU allocator does: base + cpu * cpu_stride
 * + index * elem_size, cpu_stride rounded up to DP_PCPU_AREA_ALIGN so no two
 * CPUs write one cache line (adjacent slots of one index made every counter
 * bump of a replay's two workers a cache-line transfer).  Updates write in
 * place without a lock (the kernel's arrays do the same: concurrent writers
 * of one element race, values may be torn without bpf_spin_lock).
 */
#include <net/if.h>

#include "map_impl.h"

struct slot {
    uint64_t present;
    unsigned char val[8];
};

struct array {
    struct dp_map map;
    char *values;     /* ARRAY / PERCPU_ARRAY */
    uint64_t cpu_stride; /* PERCPU_ARRAY: bytes from one CPU's area to the next */
    void *slots;      /* struct dp_prog_slot (PROG_ARRAY) or struct slot */
    dp_spinlock_t lock;
};

static inline uint32_t key_index(const void *key) { return *(const uint32_t *)key; }

/* Two cache lines: adjacent-line prefetch pairs lines too. */
#define DP_PCPU_AREA_ALIGN 128u

static inline char *pcpu_ptr(struct array *a, uint32_t idx, uint32_t cpu)
{
    return a->values + (uint64_t)cpu * a->cpu_stride + (uint64_t)idx * a->map.elem_size;
}

/* The syscall value of a per-CPU element: every CPU's slot, CPU 0 first. */
static void pcpu_copy_out(struct array *a, uint32_t idx, void *value)
{
    for (uint32_t c = 0; c < a->map.nr_cpus; c++)
        memcpy((char *)value + (uint64_t)c * a->map.elem_size, pcpu_ptr(a, idx, c), a->map.elem_size);
}

static void pcpu_copy_in(struct array *a, uint32_t idx, const void *value)
{
    for (uint32_t c = 0; c < a->map.nr_cpus; c++)
        memcpy(pcpu_ptr(a, idx, c), (const char *)value + (uint64_t)c * a->map.elem_size, a->map.elem_size);
}

static long array_next(struct dp_map *m, const void *key, void *next_key)
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

static long array_delete(struct dp_map *m, const void *key) { (void)m; (void)key; return -EINVAL; }

/* ---- ARRAY / PERCPU_ARRAY ---- */

static void *arr_lookup(struct dp_map *m, const void *key)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return NULL;
    if (m->map_type == DP_MAP_PERCPU_ARRAY)
        return pcpu_ptr(a, idx, dp_cur_cpu(m));
    return a->values + (uint64_t)idx * m->elem_size;
}

static void *arr_lookup_percpu(struct dp_map *m, const void *key, uint32_t cpu)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (m->map_type != DP_MAP_PERCPU_ARRAY || idx >= m->max_entries || cpu >= m->nr_cpus)
        return NULL;
    return pcpu_ptr(a, idx, cpu);
}

static long arr_check_update(struct dp_map *m, const void *key, uint64_t flags)
{
    if ((flags & ~(uint64_t)DP_F_LOCK) > DP_EXIST)
        return -EINVAL;
    if (key_index(key) >= m->max_entries)
        return -E2BIG; /* all elements were preallocated, none can be added */
    if (flags & DP_NOEXIST)
        return -EEXIST; /* all elements already exist */
    if (flags & DP_F_LOCK)
        return -EINVAL;
    return 0;
}

static long arr_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct array *a = (struct array *)m;
    long err = arr_check_update(m, key, flags);
    if (err)
        return err;
    uint32_t idx = key_index(key);
    if (m->map_type == DP_MAP_PERCPU_ARRAY)
        memcpy(pcpu_ptr(a, idx, dp_cur_cpu(m)), value, m->value_size);
    else
        memcpy(a->values + (uint64_t)idx * m->elem_size, value, m->value_size);
    return 0;
}

static long arr_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct array *a = (struct array *)m;
    long err = arr_check_update(m, key, flags);
    if (err)
        return err;
    uint32_t idx = key_index(key);
    if (m->map_type == DP_MAP_PERCPU_ARRAY)
        pcpu_copy_in(a, idx, value);
    else
        memcpy(a->values + (uint64_t)idx * m->elem_size, value, m->value_size);
    return 0;
}

static long arr_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return -ENOENT;
    if (m->map_type == DP_MAP_PERCPU_ARRAY)
        pcpu_copy_out(a, idx, value);
    else
        memcpy(value, a->values + (uint64_t)idx * m->elem_size, m->value_size);
    return 0;
}

static void arr_destroy(struct dp_map *m)
{
    struct array *a = (struct array *)m;
    free(a->values);
    free(a->slots);
    free(a);
}

static const struct dp_map_ops array_ops = {
    .lookup = arr_lookup,
    .lookup_percpu = arr_lookup_percpu,
    .update = arr_update,
    .delete_elem = array_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = array_next,
    .sys_lookup = arr_sys_lookup,
    .sys_update = arr_sys_update,
    .sys_delete = array_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = arr_destroy,
};

/* ---- PROG_ARRAY ---- */

static long pa_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return -ENOENT;
    struct dp_prog_slot *s = (struct dp_prog_slot *)a->slots + idx;
    if (!DP_LOAD(&s->present))
        return -ENOENT;
    memcpy(value, &s->id, 4);
    return 0;
}

long dp_prog_array_set(struct dp_map *m, uint32_t idx, void *prog, uint32_t id)
{
    struct array *a = (struct array *)m;
    if (m->map_type != DP_MAP_PROG_ARRAY)
        return -EINVAL;
    if (idx >= m->max_entries)
        return -E2BIG;
    struct dp_prog_slot *s = (struct dp_prog_slot *)a->slots + idx;
    dp_spin_lock(&a->lock);
    s->id = id;
    DP_STORE(&s->prog, prog);
    DP_STORE(&s->present, 1);
    dp_spin_unlock(&a->lock);
    return 0;
}

static long pa_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    uint32_t id;
    if (flags != DP_ANY)
        return -EINVAL;
    if (key_index(key) >= m->max_entries)
        return -E2BIG;
    memcpy(&id, value, 4);
    /* user space stores a program id; the runtime attaches the program with dp_prog_array_set */
    return dp_prog_array_set(m, key_index(key), NULL, id);
}

static long pa_delete(struct dp_map *m, const void *key)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return -E2BIG;
    struct dp_prog_slot *s = (struct dp_prog_slot *)a->slots + idx;
    long ret = 0;
    dp_spin_lock(&a->lock);
    if (!s->present)
        ret = -ENOENT;
    DP_STORE(&s->prog, NULL);
    DP_STORE(&s->present, 0);
    dp_spin_unlock(&a->lock);
    return ret;
}

static const struct dp_map_ops prog_array_ops = {
    .lookup = dp_lookup_null,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = dp_update_enotsupp,
    .delete_elem = pa_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = array_next,
    .sys_lookup = pa_sys_lookup,
    .sys_update = pa_sys_update,
    .sys_delete = pa_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = arr_destroy,
};

/* ---- DEVMAP / XSKMAP ---- */

static void *slot_lookup(struct dp_map *m, const void *key)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return NULL;
    struct slot *s = (struct slot *)a->slots + idx;
    return DP_LOAD(&s->present) ? s->val : NULL;
}

static long slot_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    if (m->map_type == DP_MAP_XSKMAP)
        return -EOPNOTSUPP; /* sockets cannot be read back through the syscall */
    const unsigned char *v = slot_lookup(m, key);
    if (!v)
        return -ENOENT;
    memcpy(value, v, m->value_size);
    return 0;
}

static void slot_store(struct array *a, uint32_t idx, const void *value, int present)
{
    struct slot *s = (struct slot *)a->slots + idx;
    dp_spin_lock(&a->lock);
    DP_STORE(&s->present, 0);
    if (present) {
        memcpy(s->val, value, a->map.value_size);
        DP_STORE(&s->present, 1);
    }
    dp_spin_unlock(&a->lock);
}

static long devmap_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key), ifindex;
    int32_t fd = 0;
    unsigned char v[8] = {0};
    char name[IF_NAMESIZE];
    if (flags > DP_EXIST)
        return -EINVAL;
    if (idx >= m->max_entries)
        return -E2BIG;
    if (flags == DP_NOEXIST)
        return -EEXIST;
    memcpy(v, value, m->value_size);
    memcpy(&ifindex, v, 4);
    if (m->value_size == 8)
        memcpy(&fd, v + 4, 4);
    if (fd <= 0)
        memset(v + 4, 0, 4); /* no program: reads back as id 0 */
    if (!ifindex) {
        /* ifindex 0 clears the slot; a program without a device is invalid */
        if (fd > 0)
            return -EINVAL;
        slot_store(a, idx, NULL, 0);
        return 0;
    }
    if (!if_indextoname(ifindex, name))
        return -EINVAL;
    slot_store(a, idx, v, 1);
    return 0;
}

static long xsk_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    struct array *a = (struct array *)m;
    uint32_t idx = key_index(key);
    if (flags > DP_EXIST)
        return -EINVAL;
    if (idx >= m->max_entries)
        return -E2BIG;
    dp_spin_lock(&a->lock);
    struct slot *s = (struct slot *)a->slots + idx;
    int present = (int)s->present;
    dp_spin_unlock(&a->lock);
    if (present && flags == DP_NOEXIST)
        return -EEXIST;
    if (!present && flags == DP_EXIST)
        return -ENOENT;
    slot_store(a, idx, value, 1);
    return 0;
}

static long slot_delete(struct dp_map *m, const void *key)
{
    uint32_t idx = key_index(key);
    if (idx >= m->max_entries)
        return -EINVAL;
    slot_store((struct array *)m, idx, NULL, 0);
    return 0;
}

static const struct dp_map_ops devmap_ops = {
    .lookup = slot_lookup,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = devmap_update,
    .delete_elem = slot_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = array_next,
    .sys_lookup = slot_sys_lookup,
    .sys_update = devmap_update,
    .sys_delete = slot_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = arr_destroy,
};

static const struct dp_map_ops xskmap_ops = {
    .lookup = slot_lookup,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = xsk_update,
    .delete_elem = slot_delete,
    .push = dp_push_enotsupp,
    .pop = dp_pop_enotsupp,
    .peek = dp_pop_enotsupp,
    .get_next_key = array_next,
    .sys_lookup = slot_sys_lookup,
    .sys_update = xsk_update,
    .sys_delete = slot_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = arr_destroy,
};

static long array_check(const struct dp_map_attr *a)
{
    uint32_t t = a->map_type, f = a->map_flags;
    switch (t) {
    case DP_MAP_DEVMAP:
        if (a->max_entries == 0 || a->key_size != 4 || (a->value_size != 4 && a->value_size != 8) ||
            (f & ~(DP_F_NUMA_NODE | DP_F_RDONLY | DP_F_WRONLY)))
            return -EINVAL;
        return 0;
    case DP_MAP_XSKMAP:
        if (a->max_entries == 0 || a->key_size != 4 || a->value_size != 4 ||
            (f & ~(DP_F_NUMA_NODE | DP_F_RDONLY | DP_F_WRONLY)))
            return -EINVAL;
        return 0;
    case DP_MAP_PROG_ARRAY:
        if (a->value_size != 4)
            return -EINVAL;
        if (f & (DP_F_MMAPABLE | DP_F_INNER_MAP))
            return -EINVAL;
        break;
    }
    int percpu = t == DP_MAP_PERCPU_ARRAY;
    uint32_t mask = DP_F_NUMA_NODE | DP_F_MMAPABLE | DP_F_ACCESS_MASK | DP_F_PRESERVE_ELEMS | DP_F_INNER_MAP;
    if (a->max_entries == 0 || a->key_size != 4 || a->value_size == 0 || (f & ~mask) ||
        ((f & DP_F_RDONLY_PROG) && (f & DP_F_WRONLY_PROG)) || (percpu && (f & DP_F_NUMA_NODE)))
        return -EINVAL;
    if (t != DP_MAP_ARRAY && (f & (DP_F_MMAPABLE | DP_F_INNER_MAP)))
        return -EINVAL;
    if (f & DP_F_PRESERVE_ELEMS)
        return -EINVAL;
    if (a->value_size > INT32_MAX)
        return -E2BIG;
    if (percpu && DP_ROUND_UP(a->value_size, 8) > DP_PCPU_MIN_UNIT_SIZE)
        return -E2BIG;
    return 0;
}

/* ARRAY / PERCPU_ARRAY value area: bytes (0: too big), and the stride of one CPU's copy.
 * dp_array_create allocates it; dp_array_mem_bytes counts it for the map memory budget. */
static uint64_t array_area(const struct dp_map_attr *attr, uint64_t *stride)
{
    uint64_t per = attr->map_type == DP_MAP_PERCPU_ARRAY ? (attr->nr_cpus ? attr->nr_cpus : 1) : 1;
    uint64_t area = (uint64_t)attr->max_entries * DP_ROUND_UP(attr->value_size, 8);   /* < 2^32 * 2^31 */
    if (per > 1)
        area = DP_ROUND_UP(area, DP_PCPU_AREA_ALIGN);
    uint64_t bytes = area * per;
    if (bytes / per != area)
        return 0;
    *stride = area;
    return bytes;
}

uint64_t dp_array_mem_bytes(const struct dp_map_attr *attr)
{
    uint64_t stride, n = attr->max_entries;
    switch (attr->map_type) {
    case DP_MAP_ARRAY:
    case DP_MAP_PERCPU_ARRAY:
        return sizeof(struct array) + DP_ROUND_UP(array_area(attr, &stride), 64);
    case DP_MAP_PROG_ARRAY:
        return sizeof(struct array) + n * sizeof(struct dp_prog_slot);
    default:
        return sizeof(struct array) + n * sizeof(struct slot);
    }
}

long dp_array_create(const struct dp_map_attr *attr, struct dp_map **out)
{
    long err = array_check(attr);
    if (err)
        return err;
    struct array *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    dp_map_init_common(&a->map, attr);
    uint64_t n = attr->max_entries;
    switch (attr->map_type) {
    case DP_MAP_ARRAY:
    case DP_MAP_PERCPU_ARRAY: {
        uint64_t area = 0, bytes = array_area(attr, &area);
        if (!bytes && n) {
            free(a);
            return -E2BIG;
        }
        a->cpu_stride = area;
        a->values = aligned_alloc(64, DP_ROUND_UP(bytes, 64));
        if (!a->values) {
            free(a);
            return -ENOMEM;
        }
        memset(a->values, 0, DP_ROUND_UP(bytes, 64));
        a->map.value_base = a->values;
        a->map.value_region_size = bytes;
        a->map.ops = &array_ops;
        break;
    }
    case DP_MAP_PROG_ARRAY:
        a->slots = calloc(n, sizeof(struct dp_prog_slot));
        a->map.value_region_size = n * sizeof(struct dp_prog_slot);
        a->map.sys_value_size = 4;
        a->map.ops = &prog_array_ops;
        break;
    default:
        a->slots = calloc(n, sizeof(struct slot));
        a->map.value_region_size = n * sizeof(struct slot);
        a->map.ops = attr->map_type == DP_MAP_DEVMAP ? &devmap_ops : &xskmap_ops;
    }
    if (!a->values && !a->slots) {
        free(a);
        return -ENOMEM;
    }
    if (a->slots)
        a->map.value_base = a->slots;
    *out = &a->map;
    return 0;
}
