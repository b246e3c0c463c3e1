/* struct dp_net: the published snapshot under a rwlock, and the ops the
 * runtime's helpers call (dp_net.h). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "net_impl.h"

static int64_t op_fib_lookup(struct dp_net *net, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
{
    struct dp_net_impl *n = (struct dp_net_impl *)net;
    int64_t ret;
    pthread_rwlock_rdlock(&n->lock);
    ret = dp_fib_lookup_snap(n->snap, p, flags, check_mtu);
    pthread_rwlock_unlock(&n->lock);
    return ret;
}

static int op_dev_mtu(struct dp_net *net, uint32_t ifindex, uint32_t *mtu, uint32_t *hh)
{
    struct dp_net_impl *n = (struct dp_net_impl *)net;
    const struct dp_netdev *d;
    int ret = -ENODEV;
    pthread_rwlock_rdlock(&n->lock);
    d = dp_snap_dev(n->snap, ifindex);
    if (d) {
        *mtu = d->mtu;
        *hh = d->hard_header_len;
        ret = 0;
    }
    pthread_rwlock_unlock(&n->lock);
    return ret;
}

static const struct dp_bpf_sock *op_sk_lookup(struct dp_net *net, const void *tuple, uint32_t len, uint8_t proto,
                                              uint32_t dif, int full)
{
    struct dp_net_impl *n = (struct dp_net_impl *)net;
    const struct dp_sock *sk;
    pthread_rwlock_rdlock(&n->lock);
    sk = dp_sk_lookup_snap(n->snap, tuple, len, proto, dif, full);
    if (sk)                    /* the socket keeps its snapshot alive until released */
        __atomic_add_fetch(&sk->snap->refs, 1, __ATOMIC_RELAXED);
    pthread_rwlock_unlock(&n->lock);
    return sk ? &sk->pub : NULL;
}

static void op_sk_release(struct dp_net *net, const struct dp_bpf_sock *pub)
{
    const struct dp_sock *sk = (const struct dp_sock *)pub;
    (void)net;
    dp_net_snap_put(sk->snap);
}

/* TCP_SYNCOOKIE_VALID: a cookie is accepted up to two minutes after the
 * listener last overflowed (tcp_synq_overflow; HZ granularity not kept) */
#define SYNCOOKIE_VALID_NS (120ull * 1000000000ull)

static void op_sk_syn(struct dp_net *net, const struct dp_bpf_sock *pub, struct dp_sk_syn *out, int synq_overflow)
{
    struct dp_sock *sk = (struct dp_sock *)pub;    /* the snapshot's memory; only the stamp is written */
    struct timespec ts;
    uint64_t now, last;
    (void)net;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (synq_overflow)
        __atomic_store_n(&sk->synq_overflow_ns, now, __ATOMIC_RELAXED);
    last = __atomic_load_n(&sk->synq_overflow_ns, __ATOMIC_RELAXED);
    out->syncookies = sk->snap->tcp_syncookies;
    out->v6only = sk->v6only;
    out->reqsk_full = sk->nreq > sk->max_ack_backlog;
    out->acceptq_full = sk->ack_backlog > sk->max_ack_backlog;
    out->recent_overflow = last && now - last <= SYNCOOKIE_VALID_NS;
}

static const struct dp_net_ops ops = {
    .fib_lookup = op_fib_lookup,
    .dev_mtu = op_dev_mtu,
    .sk_lookup = op_sk_lookup,
    .sk_release = op_sk_release,
    .sk_syn = op_sk_syn,
};

int dp_net_init(struct dp_net_impl *n)
{
    int err;
    char msg[8];
    n->pub.ops = &ops;
    if (pthread_rwlock_init(&n->lock, NULL))
        return -ENOMEM;
    n->snap = dp_net_snap_build(NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, NULL, 0, 0, &err, msg, sizeof(msg));
    if (!n->snap) {
        pthread_rwlock_destroy(&n->lock);
        return err;
    }
    n->snap->tcp_syncookies = 1;   /* a fresh namespace's default */
    return 0;
}

void dp_net_destroy(struct dp_net_impl *n)
{
    dp_net_snap_put(n->snap);  /* sockets still held keep it until released */
    n->snap = NULL;
    pthread_rwlock_destroy(&n->lock);
}

void dp_net_publish(struct dp_net_impl *n, struct dp_net_snap *snap)
{
    struct dp_net_snap *old;
    pthread_rwlock_wrlock(&n->lock);
    old = n->snap;
    n->snap = snap;
    pthread_rwlock_unlock(&n->lock);
    /* readers use it under the lock; sockets handed out hold references */
    dp_net_snap_put(old);
}
