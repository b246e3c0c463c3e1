/*
 * xsk_gen.c - the AF_XDP TX generator (see xsk_gen.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "xsk_gen.h"
#include "xsk_impl.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int dp_xsk_gen_init(struct dp_xsk_gen *g, uint32_t ifindex, uint32_t queue, const uint8_t *frame, uint32_t len,
                    uint32_t ring_size)
{
    uint32_t i;
    int rc;
    memset(g, 0, sizeof(*g));
    g->w.event_fd = -1;   /* dp_xsk_gen_free is safe before dp_xsk_worker_init */
    if (ring_size < 64 || ring_size > DP_XSK_MAX_RING || (ring_size & (ring_size - 1)))
        return dp_xsk_fail(&g->w, 0, "generator ring of %u: a power of two in 64..%u", ring_size, DP_XSK_MAX_RING),
               -EINVAL;
    /* 2 more chunks than the TX ring: the (unused) fill ring's share */
    if ((rc = dp_xsk_worker_init(&g->w, ring_size + 2, 2048, 1)) < 0)
        return rc;
    if (len < 14 || len > 2048)
        return dp_xsk_fail(&g->w, 0, "generator frame of %u bytes: 14..2048", len), -EINVAL;
    g->len = len;
    for (i = 0; i < g->w.nframes; i++)
        memcpy(g->w.area + (size_t)i * 2048, frame, len);
    /* RX and fill rings of 2: bind wants them; nothing is received here */
    rc = dp_xsk_open(&g->w, ifindex, queue, XDP_COPY, 2, ring_size, 2, ring_size, 0);
    return rc < 0 ? rc : 0;
}

static uint32_t reap(struct dp_xsk_gen *g, struct dp_xsk *s)
{
    uint32_t n = cons_avail(&s->comp), i;
    const uint64_t *d = s->comp.desc;
    for (i = 0; i < n; i++)
        free_push(&g->w, d[(s->comp.cached_cons + i) & s->comp.mask] & ~(uint64_t)2047);
    if (n) {
        s->comp.cached_cons += n;
        cons_release(&s->comp);
        g->completed += n;
    }
    return n;
}

int64_t dp_xsk_gen_run(struct dp_xsk_gen *g, uint64_t max_packets, uint64_t max_ns)
{
    struct dp_xsk *s = &g->w.socks[0];
    uint64_t c0 = g->completed, q0 = g->queued, t0 = mono_ns(), deadline = t0 + max_ns, now = t0;
    uint64_t grace = 0;

    if (g->w.nsock != 1)
        return dp_xsk_fail(&g->w, 0, "generator not set up"), -EINVAL;
    for (;;) {
        uint64_t want = max_packets - (g->queued - q0);
        uint32_t room, i;
        reap(g, s);
        if (g->completed - c0 >= max_packets)
            break;
        now = mono_ns();
        if (now >= deadline) {
            /* stop queueing; wait a little for what is in flight */
            if (g->queued == g->completed)
                break;
            if (!grace)
                grace = now + 100000000u;
            else if (now >= grace)
                break;
            want = 0;
        }
        room = prod_free(&s->tx);
        if (room > g->w.nfree)
            room = g->w.nfree;
        if (room > want)
            room = (uint32_t)want;
        for (i = 0; i < room; i++) {
            struct xdp_desc *d = &((struct xdp_desc *)s->tx.desc)[(s->tx.cached_prod + i) & s->tx.mask];
            d->addr = free_pop(&g->w);
            d->len = g->len;
            d->options = 0;
        }
        if (room) {
            s->tx.cached_prod += room;
            prod_submit(&s->tx);
            g->queued += room;
        }
        /* copy mode transmits only from sendto's context */
        g->kicks++;
        if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0) {
            if (errno == EBUSY)
                g->dev_drops++;   /* the device dropped a frame (veth: the peer's ring is full) */
            else if (errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
                return dp_xsk_fail(&g->w, errno, "generator on ifindex %u queue %u", s->ifindex, s->queue);
        }
    }
    return (int64_t)(g->completed - c0);
}

void dp_xsk_gen_free(struct dp_xsk_gen *g)
{
    dp_xsk_worker_free(&g->w);
}
