/* Internals shared by the map implementations (not part of the ABI).
 *
 * Memory model (why lookups need no lock):
 *   Like the kernel's preallocated maps, every map allocates all of its
 *   element storage at creation and never returns it to the allocator before
 *   the map is destroyed.  Deleted elements go back to a per-map free list
 *   and may be reused, so a value pointer a program got from a lookup always
 *   points at valid memory of the right size, but after a concurrent delete
 *   it may show a newer element's value - exactly the kernel's contract for
 *   preallocated hash maps.  Writers (update/delete) serialize per hash
 *   bucket (or per map for LPM, queue/stack, ring buffer) with a spinlock;
 *   readers walk lists with acquire loads.  Hash bucket lists end in a
 *   "nulls" marker naming their bucket, so a reader that followed a recycled
 *   element into another bucket notices and restarts (hlist_nulls).
 */
#ifndef DP_MAP_IMPL_H
#define DP_MAP_IMPL_H

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"

#define DP_ROUND_UP(x, a) (((x) + (a) - 1) / (a) * (a))
#define DP_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define DP_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Kernel limits that show up as create-time errors. */
#define DP_KMALLOC_MAX_SIZE (4UL << 20)
#define DP_PCPU_MIN_UNIT_SIZE (32U << 10)

typedef struct { uint32_t v; } dp_spinlock_t;

static inline void dp_spin_lock(dp_spinlock_t *l)
{
    unsigned spins = 0;
    while (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE)) {
        while (__atomic_load_n(&l->v, __ATOMIC_RELAXED)) {
            /* Worker threads may outnumber cores: yield rather than spin
             * against a preempted lock holder. */
            if (++spins > 128) {
                sched_yield();
                spins = 0;
            } else {
                __builtin_ia32_pause();
            }
        }
    }
}

static inline void dp_spin_unlock(dp_spinlock_t *l)
{
    __atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* The calling worker's CPU index for per-CPU maps (a thread-local of this .so). */
extern __thread uint32_t dp_this_cpu;
void dp_maps_set_cpu(uint32_t cpu);
uint32_t dp_maps_get_cpu(void);

static inline uint32_t dp_cur_cpu(const struct dp_map *m)
{
    uint32_t c = dp_this_cpu;
    return c < m->nr_cpus ? c : c % m->nr_cpus;
}

static inline int dp_is_percpu(uint32_t t)
{
    return t == DP_MAP_PERCPU_HASH || t == DP_MAP_PERCPU_ARRAY || t == DP_MAP_LRU_PERCPU_HASH;
}

/* A fast 32-bit hash of the key bytes (seeded per map unless BPF_F_ZERO_SEED). */
static inline uint32_t dp_hash(const void *key, uint32_t len, uint64_t seed)
{
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = seed ^ ((uint64_t)len * 0x9E3779B97F4A7C15ULL);
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h ^= v * 0xbf58476d1ce4e5b9ULL;
        h = ((h << 31) | (h >> 33)) * 0x94d049bb133111ebULL;
        p += 8;
        len -= 8;
    }
    if (len) {
        /* the same little-endian value a memcpy into a zeroed word gives,
         * but in at most three loads: gcc makes the variable-length memcpy
         * a byte loop, and the word read back after byte stores cannot be
         * store-forwarded (~7 ns of a 12-byte key's ~16 ns hash) */
        uint64_t v = 0;
        uint32_t w;
        uint16_t s;
        if (len & 4) {
            memcpy(&w, p, 4);
            v = w;
            p += 4;
        }
        if (len & 2) {
            memcpy(&s, p, 2);
            v |= (uint64_t)s << ((len & 4) * 8);
            p += 2;
        }
        if (len & 1)
            v |= (uint64_t)*p << ((len & 6) * 8);
        h ^= v * 0xbf58476d1ce4e5b9ULL;
        h = ((h << 31) | (h >> 33)) * 0x94d049bb133111ebULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

/* Key equality for the hash maps' lookups: keys of up to 16 bytes (the
 * usual tuples) compare in two loads per side instead of a call to libc's
 * memcmp with a run-time length. */
static inline int dp_key_eq(const void *a, const void *b, uint32_t len)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    if (len >= 8 && len <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, x, 8);
        memcpy(&b0, y, 8);
        memcpy(&a1, x + len - 8, 8);
        memcpy(&b1, y + len - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (len >= 4 && len < 8) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, x, 4);
        memcpy(&b0, y, 4);
        memcpy(&a1, x + len - 4, 4);
        memcpy(&b1, y + len - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return memcmp(x, y, len) == 0;
}

/* Unsupported operations, with the errno the kernel gives. */
void *dp_lookup_null(struct dp_map *m, const void *key);
void *dp_lookup_percpu_null(struct dp_map *m, const void *key, uint32_t cpu);
long dp_op_einval(void);
long dp_op_enotsupp(void);
long dp_update_enotsupp(struct dp_map *m, const void *key, const void *value, uint64_t flags);
long dp_delete_enotsupp(struct dp_map *m, const void *key);
long dp_push_enotsupp(struct dp_map *m, const void *value, uint64_t flags);
long dp_pop_enotsupp(struct dp_map *m, void *value);
long dp_lookup_and_delete_enotsupp(struct dp_map *m, const void *key, void *value, uint64_t flags);

/* Per-type constructors: validate attr like the kernel's map_alloc_check /
 * map_alloc and return 0 or -errno. */
long dp_htab_create(const struct dp_map_attr *attr, struct dp_map **out);
long dp_array_create(const struct dp_map_attr *attr, struct dp_map **out);
uint64_t dp_htab_mem_bytes(const struct dp_map_attr *attr);
uint64_t dp_array_mem_bytes(const struct dp_map_attr *attr);
/* bytes dp_map_create allocates for a map of these attributes (hash and array
 * types; 0 for the others): the service's map memory budget */
uint64_t dp_map_mem_bytes(const struct dp_map_attr *attr);
long dp_lpm_create(const struct dp_map_attr *attr, struct dp_map **out);
long dp_qs_create(const struct dp_map_attr *attr, struct dp_map **out);
long dp_bloom_create(const struct dp_map_attr *attr, struct dp_map **out);
long dp_ringbuf_create(const struct dp_map_attr *attr, struct dp_map **out);
/* Outer maps take their inner template's attributes (bpf_map_meta_alloc). */
long dp_mim_create(const struct dp_map_attr *attr, const struct dp_map *tmpl, struct dp_map **out);
long dp_cpumap_create(const struct dp_map_attr *attr, struct dp_map **out);

void dp_map_init_common(struct dp_map *m, const struct dp_map_attr *attr);

/* public (exported from the .so, used by the Cython layer) */
long dp_map_create(const struct dp_map_attr *attr, struct dp_map **out);
long dp_map_create_outer(const struct dp_map_attr *attr, const struct dp_map *tmpl, struct dp_map **out);
void dp_map_destroy(struct dp_map *m);
/* ring buffer consumer (user space side) */
long dp_ringbuf_consume(struct dp_map *m, void *buf, uint64_t buf_size, uint64_t *len_out);
long dp_prog_array_set(struct dp_map *m, uint32_t index, void *prog, uint32_t id);
/* Map-in-map, syscall side: store `inner` (id `id`) at `key` after the
 * kernel's bpf_map_meta_equal check against the template; lookups give the
 * inner's id; `*old` gets the inner map the slot held before (NULL if none),
 * so the caller can keep it alive for readers. */
long dp_mim_update(struct dp_map *m, const void *key, struct dp_map *inner, uint32_t id, uint64_t flags,
                   struct dp_map **old);
long dp_mim_delete(struct dp_map *m, const void *key, struct dp_map **old);
/* CPUMAP, syscall side: entry `cpu` = qsize and program (handle, id; NULL/0 for none). */
long dp_cpumap_update(struct dp_map *m, const void *key, uint32_t qsize, void *prog, uint32_t prog_id, uint64_t flags);
/* The largest CPUMAP max_entries (the kernel's NR_CPUS; E2BIG above). */
void dp_cpumap_set_nr_cpus(uint32_t n);
/* Elements the map holds without walking it (see Map.count in core.pyx). */
uint64_t dp_map_count(struct dp_map *m);
uint64_t dp_htab_count(struct dp_map *m);
uint64_t dp_lpm_count(struct dp_map *m);
uint64_t dp_qs_count(struct dp_map *m);
uint64_t dp_mim_count(struct dp_map *m);

#endif
