/*
 * xsk_setup.c - the AF_XDP worker's UMEM and sockets: mapping, ring set-up,
 * bind, clean-up (the data path is xsk.c; see xsk.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xsk_impl.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23   /* Linux 5.14 */
#endif

int dp_xsk_fail(struct dp_xsk_worker *w, int err, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(w->err, sizeof(w->err), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(w->err) - 2 && err)
        snprintf(w->err + n, sizeof(w->err) - (size_t)n, ": %s", strerror(err));
    return -err;
}

/* ------------------------------------------------------------ set-up */

int dp_xsk_worker_init(struct dp_xsk_worker *w, uint32_t nframes, uint32_t frame_size, uint32_t batch_cap)
{
    uint32_t i;
    memset(w, 0, sizeof(*w));
    w->event_fd = -1;
    for (i = 0; i < DP_XSK_MAX_SOCKS; i++)
        w->socks[i].fd = w->socks[i].tap_fd = -1;
    if (frame_size != 2048 && frame_size != 4096)
        return fail(w, 0, "frame size %u: AF_XDP chunks are 2048 or 4096 bytes", frame_size), -EINVAL;
    if (nframes == 0 || nframes > (1u << 20))
        return fail(w, 0, "UMEM of %u frames: expected 1..%u", nframes, 1u << 20), -EINVAL;
    w->frame_size = frame_size;
    w->nframes = nframes;
    w->area_len = (size_t)nframes * frame_size;
    w->area = mmap(NULL, w->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w->area == MAP_FAILED) {
        w->area = NULL;
        return fail(w, errno, "UMEM: mmap of %zu bytes", w->area_len);
    }
    /* Huge pages where the system offers them (THP "madvise"): a 128 MiB
     * UMEM faults in with ~400 faults instead of ~33000 (a fault costs
     * microseconds on a VM), and the kernel's copy into UMEM and the
     * program's reads walk 2 MiB pages; no error if refused. Then fault
     * everything in now: the kernel pins the UMEM at registration anyway. */
    (void)madvise(w->area, w->area_len, MADV_HUGEPAGE);
    if (madvise(w->area, w->area_len, MADV_POPULATE_WRITE) != 0) {
        size_t off;
        for (off = 0; off < w->area_len; off += 4096)
            ((volatile char *)w->area)[off] = 0;
    }
    for (w->fmask = 1; w->fmask < nframes; w->fmask <<= 1)
        ;
    w->free_stack = malloc(sizeof(uint64_t) * w->fmask);
    w->fmask -= 1;
    w->src = malloc(batch_cap ? batch_cap : 1);
    if (!w->free_stack || !w->src)
        return fail(w, ENOMEM, "UMEM bookkeeping");
    w->src_cap = batch_cap;
    for (i = 0; i < nframes; i++)
        w->free_stack[i] = (uint64_t)i * frame_size;
    w->fhead = 0;
    w->ftail = nframes;
    w->nfree = nframes;
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->event_fd < 0)
        return fail(w, errno, "eventfd");
    return 0;
}

static void ring_unmap(struct dp_xsk_ring *r)
{
    if (r->map)
        munmap(r->map, r->map_len);
    r->map = NULL;
}

static void sock_close(struct dp_xsk *s);

void dp_xsk_worker_free(struct dp_xsk_worker *w)
{
    uint32_t i;
    for (i = 0; i < w->nsock; i++)
        sock_close(&w->socks[i]);
    w->nsock = 0;
    if (w->area)
        munmap(w->area, w->area_len);
    w->area = NULL;
    free(w->free_stack);
    w->free_stack = NULL;
    free(w->src);
    w->src = NULL;
    if (w->event_fd >= 0)
        close(w->event_fd);
    w->event_fd = -1;
}

static int ring_map(struct dp_xsk_worker *w, struct dp_xsk *s, struct dp_xsk_ring *r, const struct xdp_ring_offset *off,
                    uint32_t size, size_t entry, uint64_t pgoff, const char *what)
{
    r->map_len = off->desc + (size_t)size * entry;
    r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, s->fd, (off_t)pgoff);
    if (r->map == MAP_FAILED) {
        r->map = NULL;
        return fail(w, errno, "%s ring: mmap", what);
    }
    r->producer = (volatile uint32_t *)((uint8_t *)r->map + off->producer);
    r->consumer = (volatile uint32_t *)((uint8_t *)r->map + off->consumer);
    r->flags = (volatile uint32_t *)((uint8_t *)r->map + off->flags);
    r->desc = (uint8_t *)r->map + off->desc;
    r->size = size;
    r->mask = size - 1;
    r->cached_prod = *r->producer;
    r->cached_cons = *r->consumer;
    return 0;
}

static int pow2_ok(uint32_t n)
{
    return n >= 2 && n <= DP_XSK_MAX_RING && (n & (n - 1)) == 0;
}

void dp_xsk_refill(struct dp_xsk_worker *w, struct dp_xsk *s)
{
    uint32_t n = prod_free(&s->fill), i;
    uint64_t *d = s->fill.desc;
    if (n > w->nfree) {
        if (w->nfree == 0 && n == s->fill.size)
            s->stats[DP_XS_FILL_EMPTY]++;   /* the kernel has nothing to receive into */
        n = w->nfree;
    }
    if (!n)
        return;
    for (i = 0; i < n; i++)
        d[(s->fill.cached_prod + i) & s->fill.mask] = free_pop(w);
    s->fill.cached_prod += n;
    prod_submit(&s->fill);
}

static void sock_close(struct dp_xsk *s)
{
    ring_unmap(&s->rx);
    ring_unmap(&s->tx);
    ring_unmap(&s->fill);
    ring_unmap(&s->comp);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

/* A socket that failed to come up: its frames go back to the free stack
 * (the kernel never saw its fill ring) and the slot is free again. */
static void sock_abort(struct dp_xsk_worker *w, struct dp_xsk *s)
{
    if (s->fill.map) {
        const uint64_t *d = s->fill.desc;
        uint32_t i;
        for (i = *s->fill.consumer; i != s->fill.cached_prod; i++)
            free_push(w, d[i & s->fill.mask]);
    }
    sock_close(s);
    w->nsock--;
}

static int open_steps(struct dp_xsk_worker *w, uint32_t ifindex, uint32_t queue, uint32_t bind_flags,
                      uint32_t rx_size, uint32_t tx_size, uint32_t fill_size, uint32_t comp_size,
                      int busy_poll_budget);

int dp_xsk_open(struct dp_xsk_worker *w, uint32_t ifindex, uint32_t queue, uint32_t bind_flags,
                uint32_t rx_size, uint32_t tx_size, uint32_t fill_size, uint32_t comp_size, int busy_poll_budget)
{
    uint32_t before = w->nsock;
    int rc = open_steps(w, ifindex, queue, bind_flags, rx_size, tx_size, fill_size, comp_size, busy_poll_budget);
    if (rc < 0 && w->nsock > before)
        sock_abort(w, &w->socks[before]);
    return rc;
}

static int open_steps(struct dp_xsk_worker *w, uint32_t ifindex, uint32_t queue, uint32_t bind_flags,
                      uint32_t rx_size, uint32_t tx_size, uint32_t fill_size, uint32_t comp_size,
                      int busy_poll_budget)
{
    struct xdp_mmap_offsets off;
    struct sockaddr_xdp sxdp;
    struct xdp_options opts;
    struct dp_xsk *s;
    socklen_t optlen;
    int one = 1, idx, rc;

    if (w->nsock >= DP_XSK_MAX_SOCKS)
        return fail(w, 0, "more than %d sockets in one worker", DP_XSK_MAX_SOCKS), -E2BIG;
    if (!pow2_ok(rx_size) || !pow2_ok(tx_size) || !pow2_ok(fill_size) || !pow2_ok(comp_size))
        return fail(w, 0, "ring sizes must be powers of two in 2..%u", DP_XSK_MAX_RING), -EINVAL;
    idx = (int)w->nsock;
    s = &w->socks[idx];
    memset(s, 0, sizeof(*s));
    s->tap_fd = -1;
    s->peer = -1;
    s->ifindex = ifindex;
    s->queue = queue;
    s->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        rc = errno;
        return fail(w, rc, rc == EPERM ? "AF_XDP socket (needs CAP_NET_RAW)" : "AF_XDP socket");
    }
    w->nsock++;   /* from here dp_xsk_worker_free closes it */
    if (idx == 0) {
        struct xdp_umem_reg mr;
        memset(&mr, 0, sizeof(mr));
        mr.addr = (uint64_t)(uintptr_t)w->area;
        mr.len = w->area_len;
        mr.chunk_size = w->frame_size;
        mr.headroom = 0;   /* XDP_PACKET_HEADROOM (256) is always left by the kernel */
        if (setsockopt(s->fd, SOL_XDP, XDP_UMEM_REG, &mr, sizeof(mr))) {
            rc = errno;
            /* the pinned UMEM counts against RLIMIT_MEMLOCK unless CAP_IPC_LOCK:
             * over it the kernel says ENOBUFS */
            return fail(w, rc, rc == EPERM || rc == ENOMEM || rc == ENOBUFS ? "UMEM register (needs CAP_IPC_LOCK "
                        "or a larger RLIMIT_MEMLOCK)" : "UMEM register");
        }
    }
    /* every (device, queue) gets its own fill/completion ring, also when
     * it shares the first socket's UMEM */
    if (setsockopt(s->fd, SOL_XDP, XDP_UMEM_FILL_RING, &fill_size, sizeof(fill_size)) ||
        setsockopt(s->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &comp_size, sizeof(comp_size)))
        return fail(w, errno, "fill/completion ring size");
    if (setsockopt(s->fd, SOL_XDP, XDP_RX_RING, &rx_size, sizeof(rx_size)) ||
        setsockopt(s->fd, SOL_XDP, XDP_TX_RING, &tx_size, sizeof(tx_size)))
        return fail(w, errno, "RX/TX ring size");
    optlen = sizeof(off);
    if (getsockopt(s->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen))
        return fail(w, errno, "XDP_MMAP_OFFSETS");
    if ((rc = ring_map(w, s, &s->fill, &off.fr, fill_size, sizeof(uint64_t), XDP_UMEM_PGOFF_FILL_RING, "fill")) ||
        (rc = ring_map(w, s, &s->comp, &off.cr, comp_size, sizeof(uint64_t), XDP_UMEM_PGOFF_COMPLETION_RING,
                       "completion")) ||
        (rc = ring_map(w, s, &s->rx, &off.rx, rx_size, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING, "RX")) ||
        (rc = ring_map(w, s, &s->tx, &off.tx, tx_size, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING, "TX")))
        return rc;
    /* the kernel takes frames from the fill ring as packets arrive: give it
     * its share before bind so the first packets find room */
    dp_xsk_refill(w, s);

    memset(&sxdp, 0, sizeof(sxdp));
    sxdp.sxdp_family = AF_XDP;
    sxdp.sxdp_ifindex = ifindex;
    sxdp.sxdp_queue_id = queue;
    if (idx == 0) {
        sxdp.sxdp_flags = (uint16_t)bind_flags;
        w->need_wakeup = (bind_flags & XDP_USE_NEED_WAKEUP) != 0;
    } else {
        /* copy/zero-copy and need_wakeup are the first socket's */
        sxdp.sxdp_flags = XDP_SHARED_UMEM;
        sxdp.sxdp_shared_umem_fd = (uint32_t)w->socks[0].fd;
    }
    if (bind(s->fd, (struct sockaddr *)&sxdp, sizeof(sxdp))) {
        rc = errno;
        if (rc == EOPNOTSUPP && (bind_flags & XDP_ZEROCOPY))
            return fail(w, rc, "bind ifindex %u queue %u: the driver has no zero-copy AF_XDP (use copy mode)",
                        ifindex, queue);
        if (rc == EBUSY)
            return fail(w, rc, "bind ifindex %u queue %u: another AF_XDP socket holds this queue", ifindex, queue);
        if (rc == EINVAL)
            return fail(w, rc, "bind ifindex %u queue %u (no such queue?)", ifindex, queue);
        return fail(w, rc, "bind ifindex %u queue %u", ifindex, queue);
    }
    optlen = sizeof(opts);
    if (getsockopt(s->fd, SOL_XDP, XDP_OPTIONS, &opts, &optlen) == 0)
        s->zerocopy = (opts.flags & XDP_OPTIONS_ZEROCOPY) != 0;
    /* copy mode sends at most 32 frames per sendto unless told otherwise
     * (6.17+); older kernels refuse the option and the kick loop copes */
    {
        uint32_t budget = tx_size;
        (void)setsockopt(s->fd, SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
    }
    if (busy_poll_budget > 0) {
        int usecs = 20;
        if (setsockopt(s->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
            setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) ||
            setsockopt(s->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &busy_poll_budget, sizeof(busy_poll_budget)))
            return fail(w, errno, "busy polling (SO_PREFER_BUSY_POLL/SO_BUSY_POLL_BUDGET, needs CAP_NET_ADMIN)");
        w->busy_poll = 1;
    }
    return idx;
}
