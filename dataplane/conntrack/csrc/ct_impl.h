/* Internals shared by ct_table.c and ct_proto.c (not part of the API). */
#ifndef DP_CT_IMPL_H
#define DP_CT_IMPL_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "conntrack.h"

#define CT_NLOCKS 1024u /* lock stripes, as the kernel's CONNTRACK_LOCKS */
#define CT_STAT_SLOTS 16u /* stat stripes: threads spread their counter writes */
#define CT_EVICTION_RANGE 8u /* buckets early drop looks at (NF_CT_EVICTION_RANGE) */

struct ct_stat_slot {
    uint64_t v[DP_CT_STAT_MAX];
} __attribute__((aligned(128)));

/* Entry storage (ct_slab.c): size-aligned chunks with free bitmaps, a
 * next-fit cursor per CPU stripe. */
#define CT_SLAB_STRIPES 16u
struct ct_chunk;
struct ct_slab_cursor {
    uint32_t chunk, word;     /* where this stripe's last allocation was (a hint) */
} __attribute__((aligned(64)));

struct ct_slab {
    uint32_t lock;            /* growing */
    uint32_t nchunks;         /* atomic: chunk[0..nchunks) are mapped */
    uint32_t cap;             /* length of chunk[] */
    struct ct_chunk **chunk;
    struct ct_slab_cursor cursor[CT_SLAB_STRIPES];
};

struct dp_ct_table {
    uint32_t max_entries;
    uint32_t nbuckets; /* power of two */
    uint32_t mask;
    uint32_t gc_cursor; /* atomic */
    uint64_t seed;
    uint32_t count;  /* atomic: allocated entries not yet freed */
    uint32_t hashed; /* atomic: linked entries */
    uint32_t refs;   /* atomic: 1 (owner) + count */
    uint32_t hz;     /* jiffy rate of nf_conn->timeout (kernel CONFIG_HZ) */
    struct dp_ct_node **buckets;
    uint32_t *locks;
    struct dp_ct_timeouts to;
    char name[32];
    struct ct_stat_slot stats[CT_STAT_SLOTS];
    struct ct_slab slab;
};

static inline void ct_spin_lock(uint32_t *l)
{
    unsigned spins = 0;
    for (;;) {
        if (!__atomic_exchange_n(l, 1u, __ATOMIC_ACQUIRE))
            return;
        while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
            /* Worker threads can be preempted while holding a lock on an
             * oversubscribed machine: spin briefly, then give the CPU away. */
            if (++spins > 64) {
                sched_yield();
                spins = 0;
            } else {
                __builtin_ia32_pause();
            }
        }
    }
}

static inline void ct_spin_unlock(uint32_t *l) { __atomic_store_n(l, 0u, __ATOMIC_RELEASE); }

static inline void ct_entry_lock(struct dp_nf_conn *ct)
{
    for (;;) {
        if (!__atomic_exchange_n(&ct->lock, (uint8_t)1, __ATOMIC_ACQUIRE))
            return;
        while (__atomic_load_n(&ct->lock, __ATOMIC_RELAXED))
            sched_yield();
    }
}

static inline void ct_entry_unlock(struct dp_nf_conn *ct) { __atomic_store_n(&ct->lock, (uint8_t)0, __ATOMIC_RELEASE); }

static inline int ct_test_bit(const struct dp_nf_conn *ct, int bit)
{
    return (__atomic_load_n(&ct->status, __ATOMIC_RELAXED) >> bit) & 1;
}

static inline void ct_set_bit(struct dp_nf_conn *ct, int bit) { __atomic_fetch_or(&ct->status, IPS_BIT(bit), __ATOMIC_RELAXED); }

/* 1 if this call set the bit (it was clear). */
static inline int ct_test_and_set_bit(struct dp_nf_conn *ct, int bit)
{
    return !(__atomic_fetch_or(&ct->status, IPS_BIT(bit), __ATOMIC_ACQ_REL) & IPS_BIT(bit));
}

static inline int ct_expired(const struct dp_nf_conn *ct, uint64_t now)
{
    if (now == DP_CT_NOW_ANY)
        return 0;
    return (int64_t)(__atomic_load_n(&ct->expires_ns, __ATOMIC_RELAXED) - now) <= 0;
}

/* floor(ns * hz / 1e9), split at whole seconds so that no 128-bit division
 * (a libgcc call) sits on the insert path: ns = q*1e9 + r gives
 * q*hz + floor(r*hz/1e9) exactly, and r*hz < 1e9 * 2^32 fits in 64 bits. */
static inline uint64_t ct_ns_to_jiffies(uint64_t ns, uint32_t hz)
{
    return ns / 1000000000u * hz + ns % 1000000000u * hz / 1000000000u;
}
/* Duration of j jiffies in ns, rounded up so that
 * ct_ns_to_jiffies(now + ct_jiffies_to_ns(j)) == ct_ns_to_jiffies(now) + j:
 * ceil(j * 1e9 / hz) (mod 2^64, as the 128-bit form truncated), split the
 * same way at whole multiples of hz. */
static inline uint64_t ct_jiffies_to_ns(uint64_t j, uint32_t hz)
{
    return j / hz * 1000000000u + (j % hz * 1000000000u + hz - 1) / hz;
}

/* msecs_to_jiffies (rounds up).  The kernel's takes an unsigned int and
 * reads (int)ms < 0 as "infinite" (MAX_JIFFY_OFFSET): 2^31 ms and more
 * saturate rather than scale (callers then cap at INT_MAX jiffies). */
static inline uint64_t ct_ms_to_jiffies(uint64_t ms, uint32_t hz)
{
    if (ms > 0x7fffffffu)
        return DP_CT_MAX_JIFFY_OFFSET;
    return (ms * hz + 999) / 1000;
}

/* Expiry and the u32 jiffies mirror programs read, written together. */
static inline void ct_set_expiry(struct dp_nf_conn *ct, uint64_t expires)
{
    __atomic_store_n(&ct->expires_ns, expires, __ATOMIC_RELAXED);
    __atomic_store_n(&ct->timeout, (uint32_t)ct_ns_to_jiffies(expires, ct->table->hz), __ATOMIC_RELAXED);
}

/* kernel nf_ct_refresh: no-op under IPS_FIXED_TIMEOUT. */
static inline void ct_refresh(struct dp_nf_conn *ct, uint64_t now, uint64_t extra)
{
    if (ct_test_bit(ct, IPS_FIXED_TIMEOUT_BIT))
        return;
    ct_set_expiry(ct, now + extra);
}

/* ct_slab.c: a zeroed entry or NULL (no memory); give one back (its last
 * reference is gone); init (0, or -1 on ENOMEM) and destroy with the table;
 * reserve (map and fault in storage for n entries: 0, or -1 on ENOMEM);
 * entries mapped so far; fault in a range of zeroed memory. */
struct dp_nf_conn *ct_slab_alloc(struct ct_slab *s);
void ct_slab_free(struct ct_slab *s, struct dp_nf_conn *ct);
int ct_slab_init(struct ct_slab *s, uint32_t max_entries);
int ct_slab_reserve(struct ct_slab *s, uint64_t entries);
void ct_prefault(void *p, size_t n);
void ct_slab_destroy(struct ct_slab *s);
uint64_t ct_slab_capacity(const struct ct_slab *s);

/* Remove an entry whose DYING bit this caller set (claim): unlink both
 * nodes and drop the table's reference. */
void ct_kill_claimed(struct dp_ct_table *t, struct dp_nf_conn *ct);

#endif
