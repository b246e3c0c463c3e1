/*
 * xsk_impl.h - private to xsk.c / xsk_setup.c: the ring protocol, the free
 * frame FIFO and the set-up helpers both halves use (xsk.h is the API).
 *
 * Ring protocol (net/xdp/xsk_queue.h): each ring is a single-producer
 * single-consumer array mapped from the kernel.  A producer writes entries
 * at cached_prod & mask and publishes them with a release store of the
 * producer index; a consumer reads the producer index with an acquire load,
 * reads the entries and hands them back with a release store of the
 * consumer index.  Indexes are free-running u32s.
 */
#ifndef DP_XSK_IMPL_H
#define DP_XSK_IMPL_H

#include <stdint.h>

#include <linux/if_xdp.h>

#include "xsk.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9   /* 6.17+: copy-mode frames per sendto (default 32) */
#endif

#ifndef DP_FRAME_KEPT
#define DP_FRAME_KEPT 0x80000000u   /* verdict flag: a sink kept the frame (dp_frame.h) */
#define DP_VERDICT_MASK 0x7u
#endif

#define V_ABORTED 0u
#define V_DROP 1u
#define V_PASS 2u
#define V_TX 3u
#define V_REDIRECT 4u

/* w->err = the formatted message (+ ": strerror(err)"); returns -err (-EINVAL for 0). */
int dp_xsk_fail(struct dp_xsk_worker *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define fail dp_xsk_fail

/* Top socket s's fill ring up from the free frames. */
void dp_xsk_refill(struct dp_xsk_worker *w, struct dp_xsk *s);

static inline uint32_t load_acq(volatile uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void store_rel(volatile uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* ------------------------------------------------------------ free frames
 *
 * A FIFO, not a stack: the frame handed to the kernel next is the one
 * released longest ago, so the kernel (another CPU) rarely writes into a
 * cache line this worker has just dirtied. */

static inline void free_push(struct dp_xsk_worker *w, uint64_t addr)
{
    w->free_stack[w->ftail++ & w->fmask] = addr;
    w->nfree++;
}

static inline uint64_t free_pop(struct dp_xsk_worker *w)
{
    w->nfree--;
    return w->free_stack[w->fhead++ & w->fmask];
}

static inline uint64_t free_peek(const struct dp_xsk_worker *w)
{
    return w->free_stack[w->fhead & w->fmask];
}

/* ------------------------------------------------------------ producer rings */

static inline uint32_t prod_free(struct dp_xsk_ring *r)
{
    uint32_t free = r->size - (r->cached_prod - r->cached_cons);
    if (free == 0 || free < r->size / 4) {
        r->cached_cons = load_acq(r->consumer);
        free = r->size - (r->cached_prod - r->cached_cons);
    }
    return free;
}

static inline void prod_submit(struct dp_xsk_ring *r)
{
    store_rel(r->producer, r->cached_prod);
}

/* ------------------------------------------------------------ consumer rings */

static inline uint32_t cons_avail(struct dp_xsk_ring *r)
{
    uint32_t n = r->cached_prod - r->cached_cons;
    if (n == 0) {
        r->cached_prod = load_acq(r->producer);
        n = r->cached_prod - r->cached_cons;
    }
    return n;
}

static inline void cons_release(struct dp_xsk_ring *r)
{
    store_rel(r->consumer, r->cached_cons);
}

#endif /* DP_XSK_IMPL_H */
