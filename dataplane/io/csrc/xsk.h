/*
 * xsk.h - AF_XDP sockets, UMEM and rings for one live worker.
 *
 * A worker owns one UMEM and every socket that shares it: for an inline
 * pair (vA, vB) and RX queue q, the sockets (vA, q) and (vB, q).  Sharing the
 * UMEM across the two devices (XDP_SHARED_UMEM, each socket with its own
 * fill and completion ring) is what makes forwarding free of copies: a frame
 * received on vA is run by the program where it lies in UMEM and its
 * descriptor is put on vB's TX ring as it is.  One thread touches a worker,
 * so the free-frame stack and the rings need no locks; the kernel is the
 * only other party (the rings' producer/consumer protocol, as libxdp's
 * xsk.h implements it: acquire loads of the other side's index, release
 * stores of our own).
 *
 * Frame life cycle (frames are UMEM chunks, addressed by offset):
 *   free stack -> fill ring -> (kernel copies a packet in) -> RX ring ->
 *   dp_batch (the chain runs in place) -> by verdict:
 *     DROP/ABORTED       -> free stack (then the fill ring)
 *     TX                 -> TX ring of the receiving socket
 *     PASS (inline)      -> TX ring of the peer socket
 *     PASS (single)      -> written to the TAP device, then free stack
 *     REDIRECT           -> TX ring of the target socket, or counted error
 *   TX ring -> (kernel sends) -> completion ring -> free stack.
 */
#ifndef DP_XSK_H
#define DP_XSK_H

#include <stdint.h>
#include <stddef.h>

#include "dp_frame.h"

#define DP_XSK_MAX_SOCKS 8      /* sockets per worker (interfaces of one hook) */
#define DP_XSK_MAX_RING 16384u
#define DP_XSK_STATS_N 14
#define DP_XSK_NAPS 10          /* naps in a row before an idle worker sleeps in poll() */
#define DP_XSK_LOAD_PKTS 64u    /* packets in a 1 ms window that make a worker "under load" */

/* per-socket counters (native, read at scrape time) */
enum {
    DP_XS_RX_PACKETS, DP_XS_RX_BYTES,     /* taken from the RX ring */
    DP_XS_TX_PACKETS, DP_XS_TX_BYTES,     /* put on this socket's TX ring */
    DP_XS_TX_COMPLETED,                   /* returned by the completion ring */
    DP_XS_TX_RING_FULL,                   /* frames dropped: TX ring full */
    DP_XS_FILL_EMPTY,                     /* refills that found no free frame */
    DP_XS_REDIRECT_ERRORS,                /* REDIRECT to an interface not owned */
    DP_XS_HOST_PACKETS, DP_XS_HOST_ERRORS,/* PASS to the host stack (TAP) */
    DP_XS_DROPPED,                        /* DROP/ABORTED frames recycled */
    DP_XS_WAKEUPS,                        /* sendto/poll kicks of the kernel */
    DP_XS_TX_ERRORS,                      /* sendto errors other than EAGAIN/EBUSY */
    DP_XS_HOST_TX,                        /* frames the host sent through the TAP */
};

struct dp_xsk_ring {
    volatile uint32_t *producer;
    volatile uint32_t *consumer;
    volatile uint32_t *flags;
    void *desc;                 /* uint64_t[] (fill/completion) or struct xdp_desc[] */
    uint32_t mask, size;
    uint32_t cached_prod, cached_cons;
    void *map;
    size_t map_len;
};

struct dp_xsk {
    int fd;
    uint32_t ifindex, queue;
    int peer;                   /* socket PASS goes to (inline), -1: host (TAP) or none */
    int tap_fd;                 /* single-interface PASS: the TAP device, -1 none */
    int zerocopy;               /* XDP_OPTIONS_ZEROCOPY after bind */
    struct dp_xsk_ring rx, tx, fill, comp;
    uint32_t tx_pending;        /* descriptors on the TX ring the kernel has not consumed */
    uint64_t stats[DP_XSK_STATS_N];
};

struct dp_xsk_worker {
    uint8_t *area;              /* UMEM */
    size_t area_len;
    uint32_t frame_size, nframes;
    uint64_t *free_stack;       /* chunk offsets: a FIFO of fmask + 1 slots */
    uint32_t fhead, ftail, fmask;
    uint32_t nfree;
    int need_wakeup;            /* bound with XDP_USE_NEED_WAKEUP */
    int busy_poll;              /* SO_PREFER_BUSY_POLL: spin with recvfrom, no sleep */
    int event_fd;               /* cancellation: readable once cancelled */
    volatile int cancelled;
    uint64_t spin_ns;           /* look at empty RX rings this long before poll() (0: never) */
    /* under load (see dp_xsk_rx): wait for an empty RX ring on a timer, in
     * naps of nap_ns (0: never), up to DP_XSK_NAPS of them before poll() */
    uint64_t nap_ns;
    uint64_t win_start;         /* the current 1 ms load window: start, packets received */
    uint32_t win_pkts;
    int loaded;                 /* the last window saw >= DP_XSK_LOAD_PKTS packets */
    uint64_t naps;              /* naps taken (a diagnostic) */
    uint32_t nsock, rr, ntap;
    struct dp_xsk socks[DP_XSK_MAX_SOCKS];
    int dead_err, dead_sock;    /* a socket lost its device: errno, which */
    uint32_t rx_calls;
    uint8_t *src;               /* per batch slot: index of the receiving socket */
    uint32_t src_cap;
    char err[256];
};

/* UMEM of nframes frames of frame_size (2048 or 4096) bytes. 0 or -errno. */
int dp_xsk_worker_init(struct dp_xsk_worker *w, uint32_t nframes, uint32_t frame_size, uint32_t batch_cap);
void dp_xsk_worker_free(struct dp_xsk_worker *w);

/* Open and bind a socket on (ifindex, queue).  bind_flags: XDP_COPY /
 * XDP_ZEROCOPY / 0 (kernel's choice) | XDP_USE_NEED_WAKEUP; the first socket
 * registers the UMEM, later ones share it.  Returns the socket's index or
 * -errno (w->err says which step failed). */
int dp_xsk_open(struct dp_xsk_worker *w, uint32_t ifindex, uint32_t queue, uint32_t bind_flags,
                uint32_t rx_size, uint32_t tx_size, uint32_t fill_size, uint32_t comp_size, int busy_poll_budget);

/* Wait (poll) up to timeout_ms for packets, then take up to b->capacity
 * descriptors from the RX rings (round robin over sockets) into b->frames,
 * pointing into UMEM.  Returns frames taken, 0 on timeout/cancel, -errno on a
 * socket error (w->err names the interface). */
int dp_xsk_rx(struct dp_xsk_worker *w, struct dp_batch *b, int timeout_ms);

/* The sink side (io/source.pxd): frames b->frames[idx[0..n)] (idx NULL:
 * the first n) go to their verdict's destination (see the top); those put
 * on a TX ring get DP_FRAME_KEPT (their completion recycles them), TX rings
 * are kicked before returning.  Returns the frames taken (sent or written
 * to the TAP). */
uint32_t dp_xsk_put(struct dp_xsk_worker *w, struct dp_batch *b, const uint32_t *idx, uint32_t n);

/* The source side: every frame of b not kept goes back to the free stack,
 * then completions are reaped and the fill rings topped up; clears b. */
void dp_xsk_release(struct dp_xsk_worker *w, struct dp_batch *b);

/* put (PASS/TX/REDIRECT frames) + release, in one call. */
void dp_xsk_dispatch(struct dp_xsk_worker *w, struct dp_batch *b);

/* Reap completions and top the fill rings up. */
void dp_xsk_recycle(struct dp_xsk_worker *w);

/* Frames the host wrote to the TAP devices, out of their interfaces. */
uint32_t dp_xsk_tap_drain(struct dp_xsk_worker *w, uint32_t budget);

/* Kernel statistics of a socket (struct xdp_statistics, 6 x u64). 0 or -errno. */
int dp_xsk_kstats(const struct dp_xsk *s, uint64_t out[6]);

/* Wake a blocked dp_xsk_rx and make later calls return 0 at once. */
void dp_xsk_cancel(struct dp_xsk_worker *w);

#endif /* DP_XSK_H */
