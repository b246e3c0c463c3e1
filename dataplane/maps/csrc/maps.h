/* dataplane maps: the C ABI shared by the map implementations, the
 * interpreter's helpers and JIT-generated C.
 *
 * Every map is a `struct dp_map` whose first member is a pointer to its
 * type's vtable.  Callers outside the maps extension (the interpreter, JIT
 * .so files loaded with dlopen) only need this header: the static inline
 * wrappers below dispatch through the vtable, so the implementation code
 * lives in exactly one shared object (dataplane/maps/core.*.so) and no symbol
 * has to be resolved across Python extension modules.
 *
 * Conventions, as in the kernel: functions returning `long` return 0 or a
 * negative errno; lookups return a pointer into the map's own value storage
 * (never a copy) or NULL.  That pointer stays valid memory for the lifetime
 * of the map (see "memory model" in map_impl.h).
 *
 * Two calling sides, as in the kernel:
 *  - program side (dp_map_*): what BPF helpers do.  Per-CPU maps act on the
 *    calling worker's CPU slot (set with dp_maps_set_cpu() on the worker
 *    thread; the thread-local lives in the maps .so, read by the vtable code).
 *  - syscall side (dp_map_sys_*): what bpf(BPF_MAP_*_ELEM) does.  Per-CPU
 *    values are all possible CPUs' values concatenated, each slot rounded up
 *    to 8 bytes; queue/stack lookup is peek, etc.
 */
#ifndef DP_MAPS_H
#define DP_MAPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's internal errno for "operation not supported by this map". */
#define DP_ENOTSUPP 524

/* enum bpf_map_type values (only the implemented ones). */
enum {
    DP_MAP_HASH = 1,
    DP_MAP_ARRAY = 2,
    DP_MAP_PROG_ARRAY = 3,
    DP_MAP_PERCPU_HASH = 5,
    DP_MAP_PERCPU_ARRAY = 6,
    DP_MAP_LRU_HASH = 9,
    DP_MAP_LRU_PERCPU_HASH = 10,
    DP_MAP_LPM_TRIE = 11,
    DP_MAP_ARRAY_OF_MAPS = 12,
    DP_MAP_HASH_OF_MAPS = 13,
    DP_MAP_DEVMAP = 14,
    DP_MAP_CPUMAP = 16,
    DP_MAP_XSKMAP = 17,
    DP_MAP_QUEUE = 22,
    DP_MAP_STACK = 23,
    DP_MAP_DEVMAP_HASH = 25,
    DP_MAP_RINGBUF = 27,
    DP_MAP_BLOOM_FILTER = 30,
};

/* update flags */
#define DP_ANY 0
#define DP_NOEXIST 1
#define DP_EXIST 2
#define DP_F_LOCK 4

/* create flags */
#define DP_F_NO_PREALLOC (1U << 0)
#define DP_F_NO_COMMON_LRU (1U << 1)
#define DP_F_NUMA_NODE (1U << 2)
#define DP_F_RDONLY (1U << 3)
#define DP_F_WRONLY (1U << 4)
#define DP_F_ZERO_SEED (1U << 6)
#define DP_F_RDONLY_PROG (1U << 7)
#define DP_F_WRONLY_PROG (1U << 8)
#define DP_F_MMAPABLE (1U << 10)
#define DP_F_PRESERVE_ELEMS (1U << 11)
#define DP_F_INNER_MAP (1U << 12)
#define DP_F_ACCESS_MASK (DP_F_RDONLY | DP_F_RDONLY_PROG | DP_F_WRONLY | DP_F_WRONLY_PROG)

/* ring buffer */
#define DP_RB_NO_WAKEUP (1U << 0)
#define DP_RB_FORCE_WAKEUP (1U << 1)
#define DP_RB_AVAIL_DATA 0
#define DP_RB_RING_SIZE 1
#define DP_RB_CONS_POS 2
#define DP_RB_PROD_POS 3
#define DP_RINGBUF_BUSY_BIT (1U << 31)
#define DP_RINGBUF_DISCARD_BIT (1U << 30)
#define DP_RINGBUF_HDR_SZ 8

struct dp_map;

struct dp_map_ops {
    /* program side */
    void *(*lookup)(struct dp_map *m, const void *key);                 /* current cpu */
    void *(*lookup_percpu)(struct dp_map *m, const void *key, uint32_t cpu);
    long (*update)(struct dp_map *m, const void *key, const void *value, uint64_t flags);
    long (*delete_elem)(struct dp_map *m, const void *key);
    long (*push)(struct dp_map *m, const void *value, uint64_t flags);
    long (*pop)(struct dp_map *m, void *value);
    long (*peek)(struct dp_map *m, void *value);
    /* both sides: key == NULL (or a missing key) asks for the first key */
    long (*get_next_key)(struct dp_map *m, const void *key, void *next_key);
    /* syscall side */
    long (*sys_lookup)(struct dp_map *m, const void *key, void *value);
    long (*sys_update)(struct dp_map *m, const void *key, const void *value, uint64_t flags);
    long (*sys_delete)(struct dp_map *m, const void *key);
    long (*sys_lookup_and_delete)(struct dp_map *m, const void *key, void *value, uint64_t flags);
    void (*destroy)(struct dp_map *m);
    /* map-in-map outer maps only (NULL elsewhere): does this outer map hold
     * `inner` in one of its slots?  Checked engines use it to accept an
     * inner map pointer a lookup returned as a helper's map argument. */
    int (*holds)(struct dp_map *m, const void *inner);
    /* hash maps only (NULL elsewhere): the current CPU's value of `key`, or
     * NULL, leaving the map as it is (no LRU reference bit: the kernel's
     * bpf_for_each_map_elem walks the buckets without a lookup). */
    void *(*peek_value)(struct dp_map *m, const void *key);
};

struct dp_map {
    const struct dp_map_ops *ops;
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t nr_cpus;        /* possible CPUs: number of per-CPU value slots */
    uint32_t elem_size;      /* ARRAY: round_up(value_size, 8); per-CPU: slot stride */
    uint32_t sys_value_size; /* bytes a syscall-side value occupies */
    /* Every value pointer lookup can return lies in [value_base, value_base + value_region_size):
     * the interpreter registers it as a valid memory region. */
    char *value_base;
    uint64_t value_region_size;
    char name[16];
};

/* Creation parameters: the fields of union bpf_attr for BPF_MAP_CREATE. */
struct dp_map_attr {
    uint32_t map_type;
    uint32_t key_size;
    uint32_t value_size;
    uint32_t max_entries;
    uint32_t map_flags;
    uint32_t nr_cpus;
    char name[16];
    uint64_t map_extra;      /* BLOOM_FILTER: number of hash functions (0: 5) */
};

/* ---- program-side entry points (what helpers and JIT code call) ---- */

/* bpf_map_lookup_elem.  Plain arrays are inlined: base + index * elem_size. */
static inline void *dp_map_lookup_elem(struct dp_map *m, const void *key)
{
    if (m->map_type == DP_MAP_ARRAY) {
        uint32_t idx = *(const uint32_t *)key;
        if (idx >= m->max_entries)
            return NULL;
        return m->value_base + (uint64_t)idx * m->elem_size;
    }
    return m->ops->lookup(m, key);
}

/* bpf_map_lookup_percpu_elem */
static inline void *dp_map_lookup_percpu_elem(struct dp_map *m, const void *key, uint32_t cpu)
{
    return m->ops->lookup_percpu(m, key, cpu);
}

static inline long dp_map_update_elem(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    return m->ops->update(m, key, value, flags);
}

static inline long dp_map_delete_elem(struct dp_map *m, const void *key)
{
    return m->ops->delete_elem(m, key);
}

static inline long dp_map_push_elem(struct dp_map *m, const void *value, uint64_t flags)
{
    return m->ops->push(m, value, flags);
}

static inline long dp_map_pop_elem(struct dp_map *m, void *value)
{
    return m->ops->pop(m, value);
}

static inline long dp_map_peek_elem(struct dp_map *m, void *value)
{
    return m->ops->peek(m, value);
}

static inline long dp_map_get_next_key(struct dp_map *m, const void *key, void *next_key)
{
    return m->ops->get_next_key(m, key, next_key);
}

/* ---- syscall side (control plane) ---- */
static inline long dp_map_sys_lookup(struct dp_map *m, const void *key, void *value)
{
    return m->ops->sys_lookup(m, key, value);
}

static inline long dp_map_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    return m->ops->sys_update(m, key, value, flags);
}

static inline long dp_map_sys_delete(struct dp_map *m, const void *key)
{
    return m->ops->sys_delete(m, key);
}

static inline long dp_map_sys_lookup_and_delete(struct dp_map *m, const void *key, void *value, uint64_t flags)
{
    return m->ops->sys_lookup_and_delete(m, key, value, flags);
}

/* ---- ring buffer ----
 * Records carry the kernel's 8-byte header {u32 len | BUSY | DISCARD; u32 pg_off}.
 * A sample pointer finds its ring through pg_off, as in the kernel, so
 * submit/discard need no map argument.  The ring's data pages are mapped
 * twice back to back so a record that wraps around is still contiguous. */
struct dp_ringbuf_ops {
    void *(*reserve)(struct dp_map *m, uint64_t size, uint64_t flags);
    void (*submit)(void *sample, uint64_t flags);
    void (*discard)(void *sample, uint64_t flags);
    long (*output)(struct dp_map *m, const void *data, uint64_t size, uint64_t flags);
    uint64_t (*query)(struct dp_map *m, uint64_t flags);
};

/* The ring buffer vtable: a global of the maps .so, reached through every
 * ring buffer map so that other shared objects need no symbol lookup. */
struct dp_ringbuf_map {
    struct dp_map map;
    const struct dp_ringbuf_ops *rb_ops;
};

static inline void *dp_ringbuf_reserve(struct dp_map *m, uint64_t size, uint64_t flags)
{
    return ((struct dp_ringbuf_map *)m)->rb_ops->reserve(m, size, flags);
}

/* submit/discard need the ops table; it is stored in the page the sample's
 * pg_off points to (see ringbuf.c), so take it from there. */
struct dp_ringbuf_meta {
    struct dp_map *map;
    const struct dp_ringbuf_ops *rb_ops;
};

static inline struct dp_ringbuf_meta *dp_ringbuf_meta_of(void *sample)
{
    char *hdr = (char *)sample - DP_RINGBUF_HDR_SZ;
    uint32_t pg_off = ((uint32_t *)hdr)[1];
    return (struct dp_ringbuf_meta *)(((uintptr_t)hdr & ~(uintptr_t)4095) - ((uintptr_t)pg_off << 12));
}

static inline void dp_ringbuf_submit(void *sample, uint64_t flags)
{
    dp_ringbuf_meta_of(sample)->rb_ops->submit(sample, flags);
}

static inline void dp_ringbuf_discard(void *sample, uint64_t flags)
{
    dp_ringbuf_meta_of(sample)->rb_ops->discard(sample, flags);
}

static inline long dp_ringbuf_output(struct dp_map *m, const void *data, uint64_t size, uint64_t flags)
{
    return ((struct dp_ringbuf_map *)m)->rb_ops->output(m, data, size, flags);
}

static inline uint64_t dp_ringbuf_query(struct dp_map *m, uint64_t flags)
{
    return ((struct dp_ringbuf_map *)m)->rb_ops->query(m, flags);
}

/* ---- PROG_ARRAY: tail-call targets ----
 * Each slot holds the program id user space stored (what a syscall lookup
 * returns) and an opaque program pointer the runtime attached to it. */
struct dp_prog_slot {
    void *prog;      /* opaque runtime handle, NULL = empty for tail calls */
    uint32_t id;
    uint32_t present;
};

/* ---- map-in-map (ARRAY_OF_MAPS, HASH_OF_MAPS) ----
 * A program's lookup returns the inner map's `struct dp_map *` itself (the
 * kernel returns the inner struct bpf_map *), or NULL; the verifier makes
 * it a CONST_PTR_TO_MAP of the inner template.  Each slot keeps the inner
 * map's id too: what a syscall lookup returns. */
struct dp_mim_slot {
    struct dp_map *inner;
    uint32_t id;
    uint32_t pad;
};

/* ---- CPUMAP ----
 * struct bpf_cpumap_val {u32 qsize; union {int fd; u32 id;} bpf_prog;}: the
 * entry of a possible CPU.  `prog` is the runtime handle of the entry's
 * program (the second-level XDP program the kernel's cpumap kthread runs),
 * NULL for none. */
struct dp_cpumap_entry {
    uint32_t qsize;
    uint32_t prog_id;
    void *prog;
    uint64_t present;
};

static inline void *dp_prog_array_get(struct dp_map *m, uint32_t index)
{
    if (index >= m->max_entries)
        return NULL;
    struct dp_prog_slot *s = (struct dp_prog_slot *)m->value_base + index;
    return __atomic_load_n(&s->prog, __ATOMIC_ACQUIRE);
}

#ifdef __cplusplus
}
#endif
#endif /* DP_MAPS_H */
