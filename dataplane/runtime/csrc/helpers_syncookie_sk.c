/* The SYN cookie helpers that take a listener (bpf_tcp_gen_syncookie,
 * bpf_tcp_check_syncookie of net/core/filter.c): the kernel's checks in its
 * order and errno values, on what the namespace model knows of the listener
 * (dp_net.h sk_syn: net.ipv4.tcp_syncookies, v6only, its queues as learnt,
 * when it last overflowed). The cookie itself is helpers_syncookie.c's, with
 * dataplane's secret: valid where it was made, as the kernel's. Not known to
 * the model: a listener's TCP_MAXSEG (user_mss, taken as 0) and a reuseport
 * group's shared overflow stamp. */
#include <errno.h>

#include "dp_helpers.h"
#include "dp_syncookie.h"

#define RT(env) ((struct dp_rt *)(env)->user)
#define AF_INET6_ 10
#define IPPROTO_TCP_ 6
#define TCP_LISTEN_ 10
#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

struct syn_args {
    const struct dp_bpf_sock *sk;
    const uint8_t *iph, *th;
    uint32_t iph_len, th_len;
    struct dp_sk_syn syn;
};

/* the arguments (the verifier proved the memory; checked runs check it) */
static int args_of(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                   struct syn_args *a, const char *fn)
{
    a->sk = dp_sk_held(env, r1, fn);
    if (!a->sk)
        return -1;
    a->iph_len = (uint32_t)r3;
    a->th_len = (uint32_t)r5;
    a->iph = dp_env_mem(env, r2, a->iph_len, DP_REGION_READ);
    a->th = dp_env_mem(env, r4, a->th_len, DP_REGION_READ);
    if (!a->iph || !a->th) {
        dp_env_fail(env, "%s: R%d invalid memory access", fn, a->iph ? 4 : 2);
        return -1;
    }
    RT(env)->net->ops->sk_syn(RT(env)->net, a->sk, &a->syn, 0);
    return 0;
}

/* the IP version's checks (both take the shorter struct iphdr's version) */
static int64_t family_check(const struct syn_args *a, int *v6)
{
    switch (a->iph[0] >> 4) {
    case 4:
        if (a->sk->family == AF_INET6_ && a->syn.v6only)
            return -EINVAL;
        *v6 = 0;
        return 0;
    case 6:
        if (a->iph_len < 40 || a->sk->family != AF_INET6_)
            return -EINVAL;
        *v6 = 1;
        return 0;
    default:
        return -EPROTONOSUPPORT;
    }
}

/* s64 bpf_tcp_gen_syncookie(sk, iph, iph_len, th, th_len): cookie | mss << 32 */
uint64_t dp_h_tcp_gen_syncookie(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct syn_args a;
    uint16_t mss;
    uint32_t cookie;
    int64_t err;
    int v6;
    if (args_of(env, r1, r2, r3, r4, r5, &a, "bpf_tcp_gen_syncookie"))
        return 0;
    if (a.th_len < 20 || a.th_len != (uint32_t)(a.th[12] >> 4) * 4)
        return (uint64_t)-EINVAL;
    if (a.sk->protocol != IPPROTO_TCP_ || a.sk->state != TCP_LISTEN_)
        return (uint64_t)-EINVAL;
    if (!a.syn.syncookies)
        return (uint64_t)-ENOENT;
    if (!(a.th[13] & TH_SYN) || (a.th[13] & (TH_ACK | TH_FIN | TH_RST)))
        return (uint64_t)-EINVAL;
    if (a.iph_len < 20)
        return (uint64_t)-EINVAL;
    if ((err = family_check(&a, &v6)))
        return (uint64_t)err;
    /* tcp_get_syncookie_mss: cookies only when always on or the SYN queue
     * is full, and not when the accept queue is */
    if ((a.syn.syncookies != 2 && !a.syn.reqsk_full) || a.syn.acceptq_full)
        return (uint64_t)-ENOENT;
    mss = dp_syncookie_mss(a.th);
    if (!mss)
        mss = v6 ? DP_SYNCOOKIE_MSS_CLAMP6 : DP_SYNCOOKIE_MSS_CLAMP4;
    cookie = dp_syncookie_init(a.iph, a.th, &mss, v6);
    RT(env)->net->ops->sk_syn(RT(env)->net, a.sk, &a.syn, 1);    /* tcp_synq_overflow(sk) */
    return cookie | ((uint64_t)mss << 32);
}

/* int bpf_tcp_check_syncookie(sk, iph, iph_len, th, th_len): 0 for a valid cookie */
uint64_t dp_h_tcp_check_syncookie(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                  uint64_t r5)
{
    struct syn_args a;
    int64_t err;
    int v6;
    if (args_of(env, r1, r2, r3, r4, r5, &a, "bpf_tcp_check_syncookie"))
        return 0;
    if (a.th_len < 20)
        return (uint64_t)-EINVAL;
    if (a.sk->protocol != IPPROTO_TCP_ || a.sk->state != TCP_LISTEN_)
        return (uint64_t)-EINVAL;
    if (!a.syn.syncookies)
        return (uint64_t)-EINVAL;
    if (!(a.th[13] & TH_ACK) || (a.th[13] & (TH_RST | TH_SYN)))
        return (uint64_t)-ENOENT;
    if (a.iph_len < 20)
        return (uint64_t)-EINVAL;
    if (!a.syn.recent_overflow)            /* tcp_synq_no_recent_overflow */
        return (uint64_t)-ENOENT;
    if ((err = family_check(&a, &v6)))
        return (uint64_t)err;
    return dp_syncookie_valid(a.iph, a.th, v6) ? 0 : (uint64_t)-ENOENT;
}
