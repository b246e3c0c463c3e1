/*
 * Socket lookups with the kernel's semantics, for bpf_sk_lookup_tcp,
 * bpf_sk_lookup_udp and bpf_skc_lookup_tcp (net/core/filter.c sk_lookup):
 * TCP finds an established (or request / time-wait) socket by the exact
 * 4-tuple first (__inet_lookup_established), then the best listener
 * (inet_lhash2_lookup's compute_score: bound device, family), first on
 * the exact local address, then on the wildcard; UDP scores every socket
 * of the port (__udp4_lib_lookup / __udp6_lib_lookup: connected peers,
 * bound device, family), exact local address first. The full-socket
 * lookups turn a request socket into its listener and a time-wait socket
 * into NULL (sk_to_full_sk).
 *
 * Not modelled: SO_REUSEPORT group selection (the first socket of the best
 * score answers), l3mdev, sk_incoming_cpu (its +1 is the same for all).
 */
#include <string.h>

#include "net_impl.h"

#define TCP_ESTABLISHED 1
#define TCP_TIME_WAIT 6
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#define TCP_NEW_SYN_RECV 12
#define PROTO_TCP 6

struct tuple {
    int v6;
    const uint8_t *saddr, *daddr;   /* 4 or 16 bytes */
    uint16_t sport, dport;          /* host order */
};

static int bound_dev_eq(uint32_t bound, uint32_t dif)
{
    return !bound || bound == dif;  /* no l3mdev: sdif is 0 */
}

static int any(const uint8_t *a, int n)
{
    int i;
    for (i = 0; i < n; i++)
        if (a[i])
            return 0;
    return 1;
}

static const uint8_t *laddr(const struct dp_sock *sk, int v6) { return v6 ? sk->laddr6 : sk->laddr4; }
static const uint8_t *raddr(const struct dp_sock *sk, int v6) { return v6 ? sk->raddr6 : sk->raddr4; }

/* the socket answers this family's lookups (an AF_INET6 socket takes IPv4
 * through v4-mapped or wildcard addresses unless it is v6only) */
static int family_ok(const struct dp_sock *sk, int v6)
{
    return v6 ? sk->pub.family == 10 : sk->has_v4;
}

static const struct dp_sock *established(const struct dp_net_snap *s, const uint32_t *idx, uint32_t n,
                                         const struct tuple *t, uint32_t dif)
{
    uint32_t i, alen = t->v6 ? 16 : 4;
    for (i = 0; i < n; i++) {
        const struct dp_sock *sk = &s->socks[idx[i]];
        if (sk->pub.state == TCP_LISTEN || sk->pub.state == TCP_CLOSE || !family_ok(sk, t->v6))
            continue;
        if (sk->rport != t->sport || memcmp(raddr(sk, t->v6), t->saddr, alen) ||
            memcmp(laddr(sk, t->v6), t->daddr, alen))
            continue;
        if (!bound_dev_eq(sk->pub.bound_dev_if, dif))
            continue;
        return sk;
    }
    return NULL;
}

/* inet_lhash2_lookup / inet6_lhash2_lookup over one local address */
static const struct dp_sock *listener(const struct dp_net_snap *s, const uint32_t *idx, uint32_t n,
                                      const struct tuple *t, const uint8_t *addr, uint32_t dif)
{
    const struct dp_sock *best = NULL;
    uint32_t i, alen = t->v6 ? 16 : 4;
    int hi = 0;
    for (i = 0; i < n; i++) {
        const struct dp_sock *sk = &s->socks[idx[i]];
        int score;
        if (sk->pub.state != TCP_LISTEN || !family_ok(sk, t->v6))
            continue;
        if (memcmp(laddr(sk, t->v6), addr, alen) || !bound_dev_eq(sk->pub.bound_dev_if, dif))
            continue;
        score = sk->pub.bound_dev_if ? 2 : 1;
        if (!t->v6 && sk->pub.family == 2)
            score++;
        if (score > hi) {
            hi = score;
            best = sk;
        }
    }
    return best;
}

/* compute_score of udp.c / udp_ipv6.c over one local address */
static const struct dp_sock *udp(const struct dp_net_snap *s, const uint32_t *idx, uint32_t n, const struct tuple *t,
                                 const uint8_t *addr, uint32_t dif)
{
    const struct dp_sock *best = NULL;
    uint32_t i, alen = t->v6 ? 16 : 4;
    int hi = -1;
    for (i = 0; i < n; i++) {
        const struct dp_sock *sk = &s->socks[idx[i]];
        int score, step = t->v6 ? 1 : 4;
        if (!family_ok(sk, t->v6) || memcmp(laddr(sk, t->v6), addr, alen))
            continue;
        score = t->v6 ? 0 : (sk->pub.family == 2 ? 2 : 1);
        if (!any(raddr(sk, t->v6), alen)) {
            if (memcmp(raddr(sk, t->v6), t->saddr, alen))
                continue;
            score += step;
        }
        if (sk->rport) {
            if (sk->rport != t->sport)
                continue;
            score += step;
        }
        if (!bound_dev_eq(sk->pub.bound_dev_if, dif))
            continue;
        if (sk->pub.bound_dev_if)
            score += step;
        if (score > hi) {
            hi = score;
            best = sk;
        }
    }
    return best;
}

const struct dp_sock *dp_sk_lookup_snap(const struct dp_net_snap *s, const void *tuple, uint32_t len, uint8_t proto,
                                        uint32_t dif, int full)
{
    static const uint8_t wild[16];
    const uint8_t *b = tuple;
    const struct dp_sock *sk = NULL;
    const uint32_t *idx = NULL;
    struct tuple t;
    uint32_t n;
    t.v6 = len == 36;
    t.saddr = b;
    t.daddr = b + (t.v6 ? 16 : 4);
    t.sport = (uint16_t)(b[t.v6 ? 32 : 8] << 8 | b[t.v6 ? 33 : 9]);
    t.dport = (uint16_t)(b[t.v6 ? 34 : 10] << 8 | b[t.v6 ? 35 : 11]);
    n = dp_snap_sock_bucket(s, proto, t.dport, &idx);
    if (!n)
        return NULL;
    if (proto == PROTO_TCP) {
        sk = established(s, idx, n, &t, dif);
        if (!sk)
            sk = listener(s, idx, n, &t, t.daddr, dif);
        if (!sk)
            sk = listener(s, idx, n, &t, wild, dif);
        if (sk && full) {
            if (sk->pub.state == TCP_NEW_SYN_RECV)
                sk = sk->listener < s->nsock ? &s->socks[sk->listener] : NULL;
            else if (sk->pub.state == TCP_TIME_WAIT)
                sk = NULL;
        }
        return sk;
    }
    sk = udp(s, idx, n, &t, t.daddr, dif);
    if (!sk)
        sk = udp(s, idx, n, &t, wild, dif);
    return sk;
}
