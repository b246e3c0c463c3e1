/*
 * xsk.c - the data path of an AF_XDP worker: receive into a batch, put
 * frames on TX rings by verdict, recycle, the TAP drain, statistics (set-up
 * is xsk_setup.c; the frame life cycle is in xsk.h).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "xsk_impl.h"

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
        dp_xsk_refill(w, &w->socks[i]);
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
    if (w->nap_ns) {
        now = now_ns();
        if (now - w->win_start >= 1000000u) {
            w->loaded = w->win_pkts >= DP_XSK_LOAD_PKTS;
            w->win_pkts = 0;
            w->win_start = now;
        }
    }
    if (!avail && w->loaded && timeout_ms && !w->cancelled) {
        /* Under load, wait for the ring on a timer, not in poll(): a reader
         * asleep on the socket costs the kernel a wakeup at every flush
         * (sock_def_readable, then a cross-CPU wakeup) on the CPU that
         * receives -- measured as the largest part of what delivery to
         * AF_XDP costs beyond XDP_DROP on veth -- and a spinning reader
         * takes a CPU (or its SMT sibling) from the rest. Each nap lets a
         * batch gather (latency under load grows by up to nap_ns); light
         * traffic (a ping) never counts as load and keeps spin + poll(). */
        struct timespec step = {(time_t)(w->nap_ns / 1000000000u), (long)(w->nap_ns % 1000000000u)};
        uint64_t limit = timeout_ms > 0 ? (uint64_t)timeout_ms * 1000000u : UINT64_MAX, slept = 0;
        for (n = 0; n < DP_XSK_NAPS && !avail && slept < limit && !w->cancelled; n++) {
            nanosleep(&step, NULL);
            slept += w->nap_ns;
            w->naps++;
            if (w->ntap)
                dp_xsk_tap_drain(w, 256);
            for (k = 0; k < w->nsock; k++)
                avail += cons_avail(&w->socks[k].rx);
        }
        if (!avail)
            w->loaded = 0;   /* the load is gone: back to spin + poll() */
    }
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
    w->win_pkts += b->count;
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
