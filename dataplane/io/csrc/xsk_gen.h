/*
 * xsk_gen.h - a traffic generator: one frame sent again and again out of
 * (ifindex, queue) through an AF_XDP socket's TX ring.
 *
 * It exists for benchmarks/live.py on kernels that refuse
 * BPF_F_TEST_XDP_LIVE_FRAMES: it needs no BPF program and runs where
 * AF_XDP does.  The socket is bound in copy mode (what veth offers): each
 * sendto hands up to XDP_MAX_TX_SKB_BUDGET descriptors to the kernel, which
 * builds one skb per frame and transmits it directly (no qdisc), from the
 * caller's CPU.  On veth the peer's receive (its NAPI: XDP, AF_XDP copy,
 * the stack) runs in the same context, so the caller's CPU time covers
 * sending and delivery, and veth puts the frame on the peer's RX queue of
 * the same number as the TX queue bound here.
 *
 * Every UMEM chunk holds a copy of the frame, so a descriptor is only
 * (chunk, len): the loop writes no packet bytes.  Frames are recycled from
 * the completion ring; a run is bounded by a packet count and a time.
 */
#ifndef DP_XSK_GEN_H
#define DP_XSK_GEN_H

#include <stdint.h>

#include "xsk.h"

struct dp_xsk_gen {
    struct dp_xsk_worker w;     /* UMEM + the one socket (set-up shared with the live workers) */
    uint32_t len;               /* frame length */
    uint64_t queued, completed; /* descriptors put on the TX ring / returned by the completion ring */
    uint64_t kicks;             /* sendto calls */
    uint64_t dev_drops;         /* frames the device refused (sendto EBUSY; they complete all the same) */
};

/* UMEM of ring_size chunks, each holding frame[0..len); one copy-mode socket
 * bound to (ifindex, queue) with TX and completion rings of ring_size
 * (a power of two, 64..16384). 0 or -errno (g->w.err says why). */
int dp_xsk_gen_init(struct dp_xsk_gen *g, uint32_t ifindex, uint32_t queue, const uint8_t *frame, uint32_t len,
                    uint32_t ring_size);

/* Send until max_packets frames have completed or max_ns have passed
 * (whichever first; then up to 100 ms more for the frames in flight).
 * Returns the frames completed in this run (transmitted, or refused by the
 * device: dev_drops), or
 * -errno on a socket error (g->w.err names it). */
int64_t dp_xsk_gen_run(struct dp_xsk_gen *g, uint64_t max_packets, uint64_t max_ns);

void dp_xsk_gen_free(struct dp_xsk_gen *g);

#endif /* DP_XSK_GEN_H */
