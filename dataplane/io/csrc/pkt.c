/*
 * pkt.c - AF_PACKET TPACKET_V3 receive and sendmmsg transmit for a live
 * worker (see pkt.h).
 *
 * Block protocol (Documentation/networking/packet_mmap.rst): a block
 * belongs to user space while block_status has TP_STATUS_USER; the kernel
 * fills blocks in ring order, so the reader walks them in the same order
 * and gives each back by storing TP_STATUS_KERNEL once it has copied the
 * packets out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "pkt.h"

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_QDISC_BYPASS
#define PACKET_QDISC_BYPASS 20
#endif

#define V_PASS 2u
#define V_TX 3u
#define V_REDIRECT 4u

static int fail(struct dp_pkt_worker *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct dp_pkt_worker *w, int err, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(w->err) - 2 && err)
        snprintf(w->err + n, sizeof(w->err) - (size_t)n, ": %s", strerror(err));
    return err ? -err : -EINVAL;
}

int dp_pkt_worker_init(struct dp_pkt_worker *w, uint32_t batch_cap)
{
    uint32_t i;
    memset(w, 0, sizeof(*w));
    for (i = 0; i < DP_PKT_MAX_SOCKS; i++)
        w->socks[i].fd = -1;
    w->event_fd = -1;
    if (!batch_cap)
        return fail(w, 0, "batch capacity 0");
    w->src = malloc(batch_cap);
    w->msgs = calloc(batch_cap, sizeof(struct mmsghdr));
    w->iovs = calloc(batch_cap, sizeof(struct iovec));
    if (!w->src || !w->msgs || !w->iovs)
        return fail(w, ENOMEM, "AF_PACKET worker");
    w->src_cap = batch_cap;
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->event_fd < 0)
        return fail(w, errno, "eventfd");
    return 0;
}

static void sock_close(struct dp_pkt_sock *s)
{
    if (s->ring)
        munmap(s->ring, s->ring_len);
    s->ring = NULL;
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

void dp_pkt_worker_free(struct dp_pkt_worker *w)
{
    uint32_t i;
    for (i = 0; i < w->nsock; i++)
        sock_close(&w->socks[i]);
    w->nsock = 0;
    free(w->src);
    free(w->msgs);
    free(w->iovs);
    w->src = NULL;
    w->msgs = w->iovs = NULL;
    if (w->event_fd >= 0)
        close(w->event_fd);
    w->event_fd = -1;
}

static int open_steps(struct dp_pkt_worker *w, struct dp_pkt_sock *s, uint32_t ifindex, uint32_t block_size,
                      uint32_t nblocks, uint32_t tov_ms, uint32_t fanout_id)
{
    struct tpacket_req3 req;
    struct sockaddr_ll sll;
    int v = TPACKET_V3, one = 1, rc;

    if (block_size < 4096 || (block_size & (block_size - 1)) || block_size > (1u << 24))
        return fail(w, 0, "block size %u: a power of two, 4 KiB .. 16 MiB", block_size);
    if (nblocks < 2 || nblocks > 1024)
        return fail(w, 0, "%u blocks: expected 2..1024", nblocks);
    /* protocol 0 until bound: an ETH_P_ALL socket would start receiving
     * from every interface before its ring exists */
    s->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        rc = errno;
        return fail(w, rc, rc == EPERM ? "AF_PACKET socket (needs CAP_NET_RAW)" : "AF_PACKET socket");
    }
    if (setsockopt(s->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)))
        return fail(w, errno, "PACKET_VERSION TPACKET_V3");
    if (setsockopt(s->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)))
        return fail(w, errno, "PACKET_IGNORE_OUTGOING");
    (void)setsockopt(s->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
    memset(&req, 0, sizeof(req));
    req.tp_block_size = block_size;
    req.tp_block_nr = nblocks;
    req.tp_frame_size = 2048;   /* V3 packs packets; this only sizes tp_frame_nr */
    req.tp_frame_nr = (block_size / 2048) * nblocks;
    req.tp_retire_blk_tov = tov_ms;
    if (setsockopt(s->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)))
        return fail(w, errno, "PACKET_RX_RING (%u blocks of %u bytes)", nblocks, block_size);
    s->ring_len = (size_t)block_size * nblocks;
    s->ring = mmap(NULL, s->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd, 0);
    if (s->ring == MAP_FAILED) {
        s->ring = NULL;
        return fail(w, errno, "AF_PACKET ring mmap");
    }
    s->block_size = block_size;
    s->nblocks = nblocks;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(s->fd, (struct sockaddr *)&sll, sizeof(sll))) {
        rc = errno;
        return fail(w, rc, rc == ENODEV ? "bind ifindex %u (no such interface)" : "bind ifindex %u", ifindex);
    }
    if (fanout_id) {
        int arg = (int)((fanout_id & 0xFFFF) | ((uint32_t)PACKET_FANOUT_QM << 16));
        if (setsockopt(s->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)))
            return fail(w, errno, "PACKET_FANOUT group %u", fanout_id);
    }
    return 0;
}

int dp_pkt_open(struct dp_pkt_worker *w, uint32_t ifindex, uint32_t block_size, uint32_t nblocks, uint32_t tov_ms,
                uint32_t fanout_id)
{
    struct dp_pkt_sock *s;
    int rc;
    if (w->nsock >= DP_PKT_MAX_SOCKS) {
        fail(w, 0, "more than %d sockets in one worker", DP_PKT_MAX_SOCKS);
        return -E2BIG;
    }
    s = &w->socks[w->nsock];
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    s->peer = -1;
    s->ifindex = ifindex;
    rc = open_steps(w, s, ifindex, block_size, nblocks, tov_ms, fanout_id);
    if (rc < 0) {
        sock_close(s);
        return rc;
    }
    return (int)w->nsock++;
}

static inline struct tpacket_block_desc *block(struct dp_pkt_sock *s, uint32_t i)
{
    return (struct tpacket_block_desc *)(s->ring + (size_t)i * s->block_size);
}

static inline int block_ready(struct dp_pkt_sock *s)
{
    struct tpacket_block_desc *bd = block(s, s->cur);
    return (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

static inline void block_release(struct dp_pkt_sock *s)
{
    struct tpacket_block_desc *bd = block(s, s->cur);
    __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    s->cur = (s->cur + 1) % s->nblocks;
    s->next = NULL;
    s->left = 0;
    s->stats[DP_PS_BLOCKS]++;
}

/* Copy packets of socket si into b until b is full or the socket has no
 * ready block. */
static void take(struct dp_pkt_worker *w, uint32_t si, struct dp_batch *b)
{
    struct dp_pkt_sock *s = &w->socks[si];
    uint32_t maxlen = dp_batch_max_len(b);
    while (b->count < b->capacity) {
        struct tpacket3_hdr *h;
        if (!s->next) {
            struct tpacket_block_desc *bd;
            if (!block_ready(s))
                return;
            bd = block(s, s->cur);
            s->left = bd->hdr.bh1.num_pkts;
            s->next = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
            if (!s->left) {
                block_release(s);
                continue;
            }
        }
        h = (struct tpacket3_hdr *)s->next;
        if (h->tp_snaplen > maxlen || h->tp_snaplen != h->tp_len) {
            s->stats[DP_PS_OVERSIZE]++;
        } else {
            struct dp_frame *f = dp_batch_reset_frame(b, b->count, h->tp_snaplen);
            memcpy(f->data, (uint8_t *)h + h->tp_mac, h->tp_snaplen);
            f->ts_ns = (uint64_t)h->tp_sec * 1000000000u + h->tp_nsec;
            f->ifindex = s->ifindex;
            f->rx_queue = 0;
            w->src[b->count] = (uint8_t)si;
            s->stats[DP_PS_RX_PACKETS]++;
            s->stats[DP_PS_RX_BYTES] += h->tp_snaplen;
            b->count++;
        }
        if (--s->left == 0)
            block_release(s);
        else
            s->next += h->tp_next_offset;
    }
}

int dp_pkt_rx(struct dp_pkt_worker *w, struct dp_batch *b, int timeout_ms)
{
    struct pollfd pfd[DP_PKT_MAX_SOCKS + 1];
    uint32_t k, ready = 0;
    int rc;

    b->count = 0;
    if (b->capacity > w->src_cap)
        return fail(w, 0, "batch of %u frames: worker sized for %u", b->capacity, w->src_cap);
    for (k = 0; k < w->nsock; k++)
        ready |= (w->socks[k].next != NULL || block_ready(&w->socks[k]));
    if (!ready) {
        for (k = 0; k < w->nsock; k++) {
            pfd[k].fd = w->socks[k].fd;
            pfd[k].events = POLLIN;
            pfd[k].revents = 0;
        }
        pfd[w->nsock].fd = w->event_fd;
        pfd[w->nsock].events = POLLIN;
        pfd[w->nsock].revents = 0;
        rc = poll(pfd, w->nsock + 1, timeout_ms);
        if (rc < 0)
            return errno == EINTR ? 0 : fail(w, errno, "poll");
        if (pfd[w->nsock].revents)
            return 0;
        for (k = 0; k < w->nsock; k++) {
            if (pfd[k].revents & (POLLERR | POLLHUP | POLLNVAL)) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(w->socks[k].fd, SOL_SOCKET, SO_ERROR, &err, &len);
                return fail(w, err ? err : ENETDOWN, "AF_PACKET socket on ifindex %u (interface gone or down?)",
                            w->socks[k].ifindex);
            }
        }
    }
    for (k = 0; k < w->nsock && b->count < b->capacity; k++)
        take(w, (w->rr + k) % w->nsock, b);
    w->rr = (w->rr + 1) % (w->nsock ? w->nsock : 1);
    return (int)b->count;
}

static int find_sock(const struct dp_pkt_worker *w, uint32_t ifindex)
{
    uint32_t i;
    for (i = 0; i < w->nsock; i++)
        if (w->socks[i].ifindex == ifindex)
            return (int)i;
    return -1;
}

/* One sendmmsg loop for the frames idx[0..n) whose destination is t.
 * Returns frames sent. */
static uint32_t send_to(struct dp_pkt_worker *w, uint32_t t, struct dp_batch *b, const uint32_t *idx,
                        const int8_t *dest, uint32_t n)
{
    struct mmsghdr *m = w->msgs;
    struct iovec *v = w->iovs;
    struct dp_pkt_sock *s = &w->socks[t];
    uint32_t k = 0, i, sent = 0;
    for (i = 0; i < n; i++) {
        struct dp_frame *f;
        if (dest[i] != (int8_t)t)
            continue;
        f = &b->frames[idx ? idx[i] : i];
        v[k].iov_base = f->data;
        v[k].iov_len = (size_t)(f->data_end - f->data);
        memset(&m[k].msg_hdr, 0, sizeof(m[k].msg_hdr));
        m[k].msg_hdr.msg_iov = &v[k];
        m[k].msg_hdr.msg_iovlen = 1;
        k++;
    }
    while (sent < k) {
        int r = sendmmsg(s->fd, m + sent, k - sent, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* the rest of the batch is lost for this destination (ENOBUFS:
             * the device queue is full), counted, never retried forever */
            s->stats[DP_PS_TX_ERRORS] += k - sent;
            break;
        }
        sent += (uint32_t)r;
    }
    for (i = 0; i < sent; i++)
        s->stats[DP_PS_TX_BYTES] += v[i].iov_len;
    s->stats[DP_PS_TX_PACKETS] += sent;
    return sent;
}

uint32_t dp_pkt_put(struct dp_pkt_worker *w, struct dp_batch *b, const uint32_t *idx, uint32_t n)
{
    int8_t dest[4096];
    uint32_t i, used = 0, taken = 0;
    if (n > 4096)
        n = 4096;
    for (i = 0; i < n; i++) {
        uint32_t fi = idx ? idx[i] : i;
        struct dp_frame *f = &b->frames[fi];
        uint32_t si = w->src[fi];
        struct dp_pkt_sock *s = &w->socks[si];
        int t = -1;
        switch (f->verdict & 7u) {
        case V_TX:
            t = (int)si;
            break;
        case V_PASS:
            if (s->peer >= 0) {
                t = s->peer;
            } else {
                s->stats[DP_PS_HOST_PACKETS]++;   /* the kernel has its own copy */
                taken++;
            }
            break;
        case V_REDIRECT:
            t = f->reserved ? find_sock(w, f->reserved) : -1;
            if (t < 0)
                s->stats[DP_PS_REDIRECT_ERRORS]++;
            break;
        default:
            s->stats[DP_PS_DROPPED]++;
            break;
        }
        dest[i] = (int8_t)t;
        if (t >= 0)
            used |= 1u << t;
    }
    for (i = 0; i < w->nsock; i++)
        if (used & (1u << i))
            taken += send_to(w, i, b, idx, dest, n);
    return taken;
}

void dp_pkt_dispatch(struct dp_pkt_worker *w, struct dp_batch *b)
{
    uint32_t idx[4096], i, n = 0;
    for (i = 0; i < b->count && n < 4096; i++) {
        uint32_t v = b->frames[i].verdict & 7u;
        if (v == V_PASS || v == V_TX || v == V_REDIRECT)
            idx[n++] = i;
        else
            w->socks[w->src[i]].stats[DP_PS_DROPPED]++;
    }
    dp_pkt_put(w, b, idx, n);
    b->count = 0;
}

int dp_pkt_kstats(struct dp_pkt_sock *s, uint64_t out[3])
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    memset(&st, 0, sizeof(st));
    if (getsockopt(s->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len))
        return -errno;
    out[0] = __atomic_add_fetch(&s->kstats[0], st.tp_packets, __ATOMIC_RELAXED);
    out[1] = __atomic_add_fetch(&s->kstats[1], st.tp_drops, __ATOMIC_RELAXED);
    out[2] = __atomic_add_fetch(&s->kstats[2], st.tp_freeze_q_cnt, __ATOMIC_RELAXED);
    return 0;
}

void dp_pkt_cancel(struct dp_pkt_worker *w)
{
    uint64_t one = 1;
    if (w->event_fd >= 0)
        (void)!write(w->event_fd, &one, sizeof(one));
}
