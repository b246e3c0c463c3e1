/*
 * xsk.c - AF_XDP UMEM, rings and the per-batch receive/dispatch of a live
 * worker (see xsk.h for the frame life cycle).
 *
 * Ring protocol (net/xdp/xsk_queue.h): each ring is a single-producer
 * single-consumer array mapped from the kernel.  A producer writes entries
 * at cached_prod & mask and publishes them with a release store of the
 * producer index; a consumer reads the producer index with an acquire load,
 * reads the entries and hands them back with a release store of the
 * consumer index.  Indexes are free-running u32s.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static int fail(struct dp_xsk_worker *w, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#include <stdarg.h>
static int fail(struct dp_xsk_worker *w, int err, const char *fmt, ...)
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
    w->area = mmap(NULL, w->area_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (w->area == MAP_FAILED) {
        w->area = NULL;
        return fail(w, errno, "UMEM: mmap of %zu bytes", w->area_len);
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

static void refill(struct dp_xsk_worker *w, struct dp_xsk *s)
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
    refill(w, s);

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

/* ------------------------------------------------------------ data path */

static void reap_completions(struct dp_xsk_worker *w, struct dp_xsk *s)
{
    uint32_t n = cons_avail(&s->comp), i;
    const uint64_t *d = s->comp.desc;
    uint64_t mask = ~(uint64_t)(w->frame_size - 1);
    if (!n)
        return;
    for (i = 0; i < n; i++)
        free_push(w, d[(s->comp.cached_cons + i) & s->comp.mask] & mask);
    s->comp.cached_cons += n;
    cons_release(&s->comp);
    s->stats[DP_XS_TX_COMPLETED] += n;
    s->tx_pending = s->tx_pending >= n ? s->tx_pending - n : 0;
}

void dp_xsk_recycle(struct dp_xsk_worker *w)
{
    uint32_t i;
    for (i = 0; i < w->nsock; i++)
        reap_completions(w, &w->socks[i]);
    for (i = 0; i < w->nsock; i++)
        refill(w, &w->socks[i]);
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int sock_error(struct dp_xsk_worker *w, struct dp_xsk *s, int err)
{
    if (!w->dead_err) {
        w->dead_err = err ? err : ENETDOWN;
        w->dead_sock = (int)(s - w->socks);
    }
    return fail(w, w->dead_err, "AF_XDP socket on ifindex %u queue %u (interface gone or down?)", s->ifindex,
                s->queue);
}

/* The kernel unbinds a socket whose device goes away (NETDEV_UNREGISTER)
 * and sets sk_err, but poll() on an unbound socket reports nothing: ask
 * SO_ERROR when idle (and now and then when busy).  Once dead, a worker
 * stays dead. */
static int check_alive(struct dp_xsk_worker *w)
{
    uint32_t k;
    if (w->dead_err)
        return sock_error(w, &w->socks[w->dead_sock], w->dead_err);
    for (k = 0; k < w->nsock; k++) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(w->socks[k].fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
            return sock_error(w, &w->socks[k], err);
    }
    return 0;
}

int dp_xsk_rx(struct dp_xsk_worker *w, struct dp_batch *b, int timeout_ms)
{
    struct pollfd pfd[2 * DP_XSK_MAX_SOCKS + 1];
    uint32_t k, n, i, avail = 0, np;
    struct timespec ts;
    uint64_t now;
    int rc;

    if (w->dead_err)
        return check_alive(w);
    if (w->ntap) {
        dp_xsk_tap_drain(w, 256);
    }

    b->count = 0;
    for (k = 0; k < w->nsock; k++)
        avail += cons_avail(&w->socks[k].rx);
    if (!avail && w->spin_ns && timeout_ms) {
        /* Traffic that stops for a few microseconds usually resumes: look
         * at the rings for spin_ns before sleeping in poll(), so that a
         * busy worker is never asleep when the kernel fills its ring (a
         * sleeping reader costs the kernel a wakeup per flush, on the CPU
         * that receives). Bounded: an idle worker sleeps after spin_ns. */
        uint64_t t0 = now_ns(), n_iter = 0;
        while (!avail) {
            __builtin_ia32_pause();
            for (k = 0; k < w->nsock; k++)
                avail += cons_avail(&w->socks[k].rx);
            if ((++n_iter & 63) == 0 && (now_ns() - t0 >= w->spin_ns || w->cancelled))
                break;
        }
    }
    if (!avail) {
        if (w->busy_poll) {
            /* drive the driver's NAPI from this thread (no interrupt) */
            for (k = 0; k < w->nsock; k++)
                recvfrom(w->socks[k].fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
            if ((++w->rx_calls & 4095) == 0 && (rc = check_alive(w)) < 0)
                return rc;
        } else {
            for (k = 0; k < w->nsock; k++) {
                pfd[k].fd = w->socks[k].fd;
                pfd[k].events = POLLIN;
                pfd[k].revents = 0;
            }
            pfd[w->nsock].fd = w->event_fd;
            pfd[w->nsock].events = POLLIN;
            pfd[w->nsock].revents = 0;
            np = w->nsock + 1;
            for (k = 0; k < w->nsock; k++) {
                if (w->socks[k].tap_fd >= 0) {
                    pfd[np].fd = w->socks[k].tap_fd;
                    pfd[np].events = POLLIN;
                    pfd[np].revents = 0;
                    np++;
                }
            }
            rc = poll(pfd, np, timeout_ms);
            if (rc < 0)
                return errno == EINTR ? 0 : fail(w, errno, "poll");
            if (pfd[w->nsock].revents)
                return 0;   /* cancelled */
            if (np > w->nsock + 1) {
                dp_xsk_tap_drain(w, 256);
                dp_xsk_recycle(w);
            }
            for (k = 0; k < w->nsock; k++)
                if (pfd[k].revents & (POLLERR | POLLHUP | POLLNVAL))
                    return sock_error(w, &w->socks[k], 0);
            if (rc == 0)
                return check_alive(w);
        }
    } else if ((++w->rx_calls & 4095) == 0 && (rc = check_alive(w)) < 0) {
        return rc;
    }
    if (b->capacity > w->src_cap)
        return fail(w, 0, "batch of %u frames: worker sized for %u", b->capacity, w->src_cap), -EINVAL;
    clock_gettime(CLOCK_REALTIME, &ts);
    now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    /* round robin: each call starts at the next socket, so a busy interface
     * cannot starve the other direction of an inline pair */
    for (k = 0; k < w->nsock && b->count < b->capacity; k++) {
        uint32_t si = (w->rr + k) % w->nsock;
        struct dp_xsk *s = &w->socks[si];
        const struct xdp_desc *d = s->rx.desc;
        n = cons_avail(&s->rx);
        if (n > b->capacity - b->count)
            n = b->capacity - b->count;
        for (i = 0; i < n; i++) {
            const struct xdp_desc *e = &d[(s->rx.cached_cons + i) & s->rx.mask];
            struct dp_frame *f = &b->frames[b->count];
            uint64_t chunk = e->addr & ~(uint64_t)(w->frame_size - 1);
            f->hard_start = w->area + chunk;
            f->data = w->area + e->addr;
            f->data_meta = f->data;
            f->data_end = f->data + e->len;
            f->frame_sz = w->frame_size;
            f->ts_ns = now;
            f->ifindex = s->ifindex;
            f->rx_queue = s->queue;
            f->wire_extra = 0;
            f->verdict = 0;
            f->reserved = 0;
            w->src[b->count] = (uint8_t)si;
            s->stats[DP_XS_RX_BYTES] += e->len;
            b->count++;
        }
        if (n) {
            s->rx.cached_cons += n;
            cons_release(&s->rx);
            s->stats[DP_XS_RX_PACKETS] += n;
        }
    }
    w->rr = (w->rr + 1) % (w->nsock ? w->nsock : 1);
    return (int)b->count;
}

static inline void free_frame(struct dp_xsk_worker *w, const struct dp_frame *f)
{
    free_push(w, (uint64_t)(f->hard_start - w->area));
}

/* Put frame f on socket t's TX ring (reserved slot count checked by caller
 * through prod_free). Returns 0, or -1 when the ring is full. */
static inline int tx_put(struct dp_xsk_worker *w, struct dp_xsk *t, const struct dp_frame *f, uint32_t *room)
{
    struct xdp_desc *d;
    if (!*room) {
        *room = prod_free(&t->tx);
        if (!*room) {
            t->stats[DP_XS_TX_RING_FULL]++;
            return -1;
        }
    }
    d = &((struct xdp_desc *)t->tx.desc)[t->tx.cached_prod & t->tx.mask];
    d->addr = (uint64_t)(f->data - w->area);
    d->len = (uint32_t)(f->data_end - f->data);
    d->options = 0;
    t->tx.cached_prod++;
    (*room)--;
    t->stats[DP_XS_TX_PACKETS]++;
    t->stats[DP_XS_TX_BYTES] += d->len;
    return 0;
}

static int find_sock(const struct dp_xsk_worker *w, uint32_t ifindex)
{
    uint32_t i;
    for (i = 0; i < w->nsock; i++)
        if (w->socks[i].ifindex == ifindex)
            return (int)i;
    return -1;
}

static void kick_tx(struct dp_xsk_worker *w, struct dp_xsk *s)
{
    int tries;
    /* copy mode transmits from sendto's context, a budget of frames per
     * call: repeat while it reports EAGAIN and frames are left */
    for (tries = 0; tries < 64; tries++) {
        if (w->need_wakeup && !(*s->tx.flags & XDP_RING_NEED_WAKEUP) && s->zerocopy)
            return;
        s->stats[DP_XS_WAKEUPS]++;
        if (sendto(s->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0) {
            if (load_acq(s->tx.consumer) == s->tx.cached_prod)
                return;
            continue;
        }
        if (errno == EAGAIN || errno == EBUSY || errno == ENOBUFS) {
            /* the completion ring may be what is full: make room */
            reap_completions(w, s);
            if (load_acq(s->tx.consumer) == s->tx.cached_prod)
                return;
            continue;
        }
        if (errno != EINTR) {
            s->stats[DP_XS_TX_ERRORS]++;
            return;
        }
    }
}

/* Single interface: what the host stack sends through the TAP device goes
 * out of the interface as it is (egress does not run XDP programs, in the
 * kernel either).  Up to budget frames, read straight into UMEM chunks. */
uint32_t dp_xsk_tap_drain(struct dp_xsk_worker *w, uint32_t budget)
{
    uint32_t k, sent = 0;
    for (k = 0; k < w->nsock; k++) {
        struct dp_xsk *s = &w->socks[k];
        uint32_t room = 0, n = 0;
        if (s->tap_fd < 0)
            continue;
        while (n < budget && w->nfree) {
            struct dp_frame f;
            uint64_t chunk = free_peek(w);
            ssize_t len;
            f.hard_start = w->area + chunk;
            f.data = f.hard_start + DP_XDP_HEADROOM;
            len = read(s->tap_fd, f.data, w->frame_size - DP_XDP_HEADROOM);
            if (len <= 0)
                break;   /* EAGAIN: nothing more (the fd is non-blocking) */
            f.data_end = f.data + len;
            s->stats[DP_XS_HOST_TX]++;
            if (tx_put(w, s, &f, &room) != 0)
                break;   /* TX ring full: the frame stays free, counted */
            (void)free_pop(w);
            n++;
        }
        if (n) {
            prod_submit(&s->tx);
            kick_tx(w, s);
            sent += n;
        }
    }
    return sent;
}

uint32_t dp_xsk_put(struct dp_xsk_worker *w, struct dp_batch *b, const uint32_t *idx, uint32_t n)
{
    uint32_t room[DP_XSK_MAX_SOCKS], dirty = 0, i, taken = 0;
    memset(room, 0, sizeof(room));
    for (i = 0; i < n; i++) {
        uint32_t fi = idx ? idx[i] : i;
        struct dp_frame *f = &b->frames[fi];
        uint32_t si = w->src[fi];
        struct dp_xsk *s = &w->socks[si];
        int t = -1;
        switch (f->verdict & DP_VERDICT_MASK) {
        case V_TX:
            t = (int)si;
            break;
        case V_PASS:
            if (s->peer >= 0) {
                t = s->peer;
            } else if (s->tap_fd >= 0) {
                /* AF_XDP cannot hand a frame to the kernel stack: a TAP
                 * device injects a copy (one write per packet) */
                if (write(s->tap_fd, f->data, (size_t)(f->data_end - f->data)) < 0) {
                    s->stats[DP_XS_HOST_ERRORS]++;
                } else {
                    s->stats[DP_XS_HOST_PACKETS]++;
                    taken++;
                }
            } else {
                s->stats[DP_XS_DROPPED]++;
            }
            break;
        case V_REDIRECT:
            /* f->reserved: the target ifindex; only interfaces of this hook
             * (sockets of this worker) are reachable */
            t = f->reserved ? find_sock(w, f->reserved) : -1;
            if (t < 0)
                s->stats[DP_XS_REDIRECT_ERRORS]++;
            break;
        default:
            s->stats[DP_XS_DROPPED]++;
            break;
        }
        if (t < 0 || tx_put(w, &w->socks[t], f, &room[t]) != 0)
            continue;   /* not kept: release() recycles it */
        f->verdict |= DP_FRAME_KEPT;   /* the TX ring has it until its completion */
        dirty |= 1u << t;
        taken++;
    }
    for (i = 0; i < w->nsock; i++) {
        if (dirty & (1u << i)) {
            struct dp_xsk *t = &w->socks[i];
            prod_submit(&t->tx);
            kick_tx(w, t);
        }
    }
    return taken;
}

void dp_xsk_release(struct dp_xsk_worker *w, struct dp_batch *b)
{
    uint32_t i;
    for (i = 0; i < b->count; i++) {
        struct dp_frame *f = &b->frames[i];
        if (!(f->verdict & DP_FRAME_KEPT))
            free_frame(w, f);
    }
    b->count = 0;
    dp_xsk_recycle(w);
}

void dp_xsk_dispatch(struct dp_xsk_worker *w, struct dp_batch *b)
{
    uint32_t idx[4096], i, n = 0;
    for (i = 0; i < b->count && n < 4096; i++) {
        uint32_t v = b->frames[i].verdict & DP_VERDICT_MASK;
        if (v == V_PASS || v == V_TX || v == V_REDIRECT)
            idx[n++] = i;
        else
            w->socks[w->src[i]].stats[DP_XS_DROPPED]++;
    }
    dp_xsk_put(w, b, idx, n);
    dp_xsk_release(w, b);
}

int dp_xsk_kstats(const struct dp_xsk *s, uint64_t out[6])
{
    struct xdp_statistics st;
    socklen_t len = sizeof(st);
    memset(&st, 0, sizeof(st));
    if (getsockopt(s->fd, SOL_XDP, XDP_STATISTICS, &st, &len))
        return -errno;
    out[0] = st.rx_dropped;
    out[1] = st.rx_invalid_descs;
    out[2] = st.tx_invalid_descs;
    out[3] = st.rx_ring_full;
    out[4] = st.rx_fill_ring_empty_descs;
    out[5] = st.tx_ring_empty_descs;
    return 0;
}

void dp_xsk_cancel(struct dp_xsk_worker *w)
{
    uint64_t one = 1;
    __atomic_store_n(&w->cancelled, 1, __ATOMIC_RELEASE);
    if (w->event_fd >= 0)
        (void)!write(w->event_fd, &one, sizeof(one));
}
