/*
 * pkt.h - AF_PACKET (TPACKET_V3) sockets of one live worker: the fallback
 * where AF_XDP is not available (no CAP_BPF, an old kernel, a driver
 * without XDP).
 *
 * Receive: a TPACKET_V3 ring per socket (blocks of packets the kernel fills
 * and hands over whole, or when tp_retire_blk_tov expires).  Each packet is
 * copied once, from its block into a batch slot laid out like an XDP buffer
 * (dp_frame.h: headroom for adjust_head/meta, tailroom for adjust_tail), so
 * programs see the same memory model as on AF_XDP.  Blocks go back to the
 * kernel as soon as their packets are in the batch.
 *
 * Transmit: one sendmmsg per destination socket and batch (the socket is
 * bound to its interface; PACKET_QDISC_BYPASS skips the qdisc as AF_XDP
 * does).  Our own transmissions are not seen again (PACKET_IGNORE_OUTGOING).
 *
 * AF_PACKET taps a copy: the host stack receives every packet whatever the
 * verdict, so DROP here means "not forwarded by the dataplane", and PASS on
 * a single interface needs no TAP (the kernel already has the packet).
 *
 * Several workers on one interface (one per RX queue) join a PACKET_FANOUT
 * group in queue-mapping mode, so each sees the packets of its own queue.
 */
#ifndef DP_PKT_H
#define DP_PKT_H

#include <stdint.h>
#include <stddef.h>

#include "dp_frame.h"

#define DP_PKT_MAX_SOCKS 8
#define DP_PKT_STATS_N 10

enum {
    DP_PS_RX_PACKETS, DP_PS_RX_BYTES,
    DP_PS_TX_PACKETS, DP_PS_TX_BYTES,
    DP_PS_TX_ERRORS,                      /* sendmmsg refused a frame (ENOBUFS: ring/queue full) */
    DP_PS_REDIRECT_ERRORS,
    DP_PS_DROPPED,                        /* DROP/ABORTED (not forwarded) */
    DP_PS_OVERSIZE,                       /* packets longer than a batch slot: dropped */
    DP_PS_HOST_PACKETS,                   /* single-interface PASS: left to the kernel's own copy */
    DP_PS_BLOCKS,                         /* ring blocks consumed */
};

struct dp_pkt_sock {
    int fd;
    uint32_t ifindex;
    int peer;                   /* socket PASS goes to (inline), -1: host */
    uint8_t *ring;
    size_t ring_len;
    uint32_t block_size, nblocks;
    uint32_t cur;               /* block being consumed */
    uint32_t left;              /* packets of it not yet taken */
    uint8_t *next;              /* next tpacket3_hdr in it */
    uint64_t stats[DP_PKT_STATS_N];
    uint64_t kstats[3];         /* PACKET_STATISTICS summed (the kernel resets on read) */
};

struct dp_pkt_worker {
    uint32_t nsock, rr;
    struct dp_pkt_sock socks[DP_PKT_MAX_SOCKS];
    int event_fd;
    uint8_t *src;               /* per batch slot: receiving socket */
    uint32_t src_cap;
    void *msgs;                 /* struct mmsghdr[cap], struct iovec[cap]: sendmmsg scratch */
    void *iovs;
    char err[256];
};

int dp_pkt_worker_init(struct dp_pkt_worker *w, uint32_t batch_cap);
void dp_pkt_worker_free(struct dp_pkt_worker *w);

/* A TPACKET_V3 socket on ifindex: nblocks blocks of block_size bytes,
 * blocks retired after tov_ms; fanout_id != 0 joins that PACKET_FANOUT_QM
 * group.  Returns the socket's index or -errno (w->err). */
int dp_pkt_open(struct dp_pkt_worker *w, uint32_t ifindex, uint32_t block_size, uint32_t nblocks, uint32_t tov_ms,
                uint32_t fanout_id);

/* Wait up to timeout_ms, then copy up to b->capacity packets into b's
 * slots.  Frames taken, 0 on timeout/cancel, -errno on a socket error. */
int dp_pkt_rx(struct dp_pkt_worker *w, struct dp_batch *b, int timeout_ms);

/* The sink side (io/source.pxd): send b->frames[idx[0..n)] (idx NULL: the
 * first n) by their verdicts, copying (nothing is kept).  Returns frames
 * sent (or left to the host). */
uint32_t dp_pkt_put(struct dp_pkt_worker *w, struct dp_batch *b, const uint32_t *idx, uint32_t n);

/* put (PASS/TX/REDIRECT frames) of the whole batch; clears b. */
void dp_pkt_dispatch(struct dp_pkt_worker *w, struct dp_batch *b);

/* PACKET_STATISTICS (tp_packets, tp_drops, tp_freeze_q_cnt) since the
 * socket opened: the kernel resets them on every read, so they are summed
 * here (atomically: any thread may ask). */
int dp_pkt_kstats(struct dp_pkt_sock *s, uint64_t out[3]);

void dp_pkt_cancel(struct dp_pkt_worker *w);

#endif /* DP_PKT_H */
