/* The kernel's LRU for LRU_HASH / LRU_PERCPU_HASH (kernel/bpf/bpf_lru_list.c),
 * modelled list for list so that a sequence of updates, lookups and deletes
 * on one CPU leaves the same keys in the map as the running kernel:
 *
 *  - common LRU (the default): one global list set (active, inactive, free)
 *    and per CPU a local free list and a pending list.  A CPU takes free
 *    nodes from its local list; when that is empty it flushes its pending
 *    nodes into the global lists, rotates them, and pulls up to target_free
 *    nodes (clamp(nr_elems / ncpus / 2, 1, 128)) from the global free list,
 *    evicting from the inactive tail when the free list is short.  So an
 *    overflowing map evicts in batches and ends below max_entries.
 *  - BPF_F_NO_COMMON_LRU: one list set per CPU, each owning
 *    max_entries / ncpus nodes, refilled PERCPU_FREE_TARGET (4) at a time.
 *
 * Lookups only set a node's ref byte (lock-free, as the kernel's); every
 * list operation runs under one lock per map (the kernel's per-CPU and
 * global locks collapse into it: the order of operations on one CPU is
 * what decides which keys survive).
 */
#ifndef DP_LRU_LIST_H
#define DP_LRU_LIST_H

#include <stdint.h>

#include "map_impl.h"

struct dp_list {
    struct dp_list *next, *prev;
};

enum {
    DP_LRU_ACTIVE,
    DP_LRU_INACTIVE,
    DP_LRU_FREE,
    DP_LRU_LOCAL_FREE,
    DP_LRU_LOCAL_PENDING,
};

struct dp_lru_node {
    struct dp_list list;
    uint16_t cpu;
    uint8_t type;
    uint8_t ref;     /* set by lookups without a lock */
};

struct dp_lru_list {
    struct dp_list lists[3];        /* active, inactive, free */
    uint32_t counts[2];             /* active, inactive */
    struct dp_list *next_inactive_rotation;
};

struct dp_lru_local {
    struct dp_list free_list;
    struct dp_list pending_list;
    uint32_t next_steal;
};

/* del_from_htab: unlink the node's element from its bucket; 0 if it is not there. */
typedef int (*dp_lru_del_fn)(void *arg, struct dp_lru_node *node);

struct dp_lru {
    int percpu;                     /* BPF_F_NO_COMMON_LRU */
    uint32_t nr_cpus;
    uint32_t nr_scans;
    uint32_t target_free;
    struct dp_lru_list common;      /* common LRU */
    struct dp_lru_local *local;     /* common LRU: nr_cpus local lists */
    struct dp_lru_list *pcpu;       /* NO_COMMON_LRU: nr_cpus list sets */
    dp_lru_del_fn del_from_htab;
    void *del_arg;
    dp_spinlock_t lock;
};

static inline void dp_lru_set_ref(struct dp_lru_node *n)
{
    if (!__atomic_load_n(&n->ref, __ATOMIC_RELAXED))
        __atomic_store_n(&n->ref, 1, __ATOMIC_RELAXED);
}

long dp_lru_init(struct dp_lru *lru, int percpu, uint32_t nr_cpus, dp_lru_del_fn del, void *arg);
/* nr_elems nodes at buf + node_offset + i * elem_size, all free */
void dp_lru_populate(struct dp_lru *lru, char *buf, uint32_t node_offset, uint32_t elem_size, uint32_t nr_elems);
/* a free node for `cpu` (may evict other elements through del_from_htab), or NULL */
struct dp_lru_node *dp_lru_pop_free(struct dp_lru *lru, uint32_t cpu);
void dp_lru_push_free(struct dp_lru *lru, struct dp_lru_node *node);
void dp_lru_destroy(struct dp_lru *lru);

#endif
