/* Internals shared by ct_table.c and ct_proto.c (not part of the API). */
#ifndef DP_CT_IMPL_H
#define DP_CT_IMPL_H

#include <sched.h>
#include <stdint.h>

#include "conntrack.h"

#define CT_NLOCKS 1024u /* lock stripes, as the kernel's CONNTRACK_LOCKS */
#define CT_STAT_SLOTS 16u /* stat stripes: threads spread their counter writes */
#define CT_EVICTION_RANGE 8u /* buckets early drop looks at (NF_CT_EVICTION_RANGE) */

struct ct_stat_slot {
    uint64_t v[DP_CT_STAT_MAX];
} __attribute__((aligned(128)));

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

static inline uint64_t ct_ns_to_jiffies(uint64_t ns, uint32_t hz) { return (uint64_t)((__uint128_t)ns * hz / 1000000000u); }
/* Duration of j jiffies in ns, rounded up so that
 * ct_ns_to_jiffies(now + ct_jiffies_to_ns(j)) == ct_ns_to_jiffies(now) + j. */
static inline uint64_t ct_jiffies_to_ns(uint64_t j, uint32_t hz) { return (uint64_t)(((__uint128_t)j * 1000000000u + hz - 1) / hz); }

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

/* Remove an entry whose DYING bit this caller set (claim): unlink both
 * nodes and drop the table's reference. */
void ct_kill_claimed(struct dp_ct_table *t, struct dp_nf_conn *ct);

#endif
