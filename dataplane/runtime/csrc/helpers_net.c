/* Helpers that consult the network namespace (dp_net.h): bpf_fib_lookup and
 * bpf_check_mtu in their XDP form (bpf_xdp_fib_lookup, bpf_xdp_check_mtu of
 * net/core/filter.c). Argument checks and errno values are the kernel's;
 * routing and devices are the model's (dataplane/net). */
#include <errno.h>
#include <string.h>

#include "dp_helpers.h"

#define RT(env) ((struct dp_rt *)(env)->user)
#define AF_INET_ 2
#define AF_INET6_ 10

static struct dp_net *net_of(struct dp_env *env, const char *helper)
{
    struct dp_net *net = RT(env) ? RT(env)->net : NULL;
    if (!net)
        dp_env_fail(env, "%s: no network namespace model is attached to this runner", helper);
    return net;
}

/* bpf_fib_lookup(ctx, params, plen, flags) */
uint64_t dp_h_fib_lookup(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, "bpf_fib_lookup");
    int32_t plen = (int32_t)r3;
    uint32_t flags = (uint32_t)r4;
    struct dp_bpf_fib_lookup *p;
    struct dp_net *net;
    (void)r5;
    if (!x)
        return 0;
    /* the verifier proved plen bytes of writable memory at params */
    p = dp_env_mem(env, r2, plen > 0 ? (uint64_t)plen : 0, DP_REGION_RW);
    if (!p || plen <= 0)
        return dp_env_fail(env, "bpf_fib_lookup: R2 invalid memory access: %d bytes at 0x%llx", plen,
                           (unsigned long long)r2);
    if ((uint32_t)plen < DP_FIB_PARAMS_SIZE)
        return (uint64_t)-EINVAL;
    if (flags & ~DP_FIB_LOOKUP_MASK)
        return (uint64_t)-EINVAL;
    if (p->family != AF_INET_ && p->family != AF_INET6_)
        return (uint64_t)-EAFNOSUPPORT;
    net = net_of(env, "bpf_fib_lookup");
    if (!net)
        return 0;
    /* XDP always checks the MTU (bpf_xdp_fib_lookup passes check_mtu=true) */
    return (uint64_t)net->ops->fib_lookup(net, p, flags, 1);
}

/* bpf_check_mtu(ctx, ifindex, mtu_len, len_diff, flags) */
uint64_t dp_h_check_mtu(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, "bpf_check_mtu");
    uint32_t ifindex = (uint32_t)r2, mtu = 0, hh = 0, *mtu_len;
    int32_t len_diff = (int32_t)r4;
    uint32_t len;
    struct dp_net *net;
    if (!x)
        return 0;
    mtu_len = dp_env_mem(env, r3, 4, DP_REGION_RW);
    if (!mtu_len)
        return dp_env_fail(env, "bpf_check_mtu: R3 invalid memory access: 4 bytes at 0x%llx", (unsigned long long)r3);
    /* the XDP variant takes no flags (no multi-buffer segment check yet) */
    if (r5)
        return (uint64_t)-EINVAL;
    net = net_of(env, "bpf_check_mtu");
    if (!net)
        return 0;
    if (!ifindex)
        ifindex = x->ingress_ifindex;      /* __dev_via_ifindex: the receiving device */
    if (net->ops->dev_mtu(net, ifindex, &mtu, &hh))
        return (uint64_t)-ENODEV;
    /* the kernel's int arithmetic (wrapping): the linear part, or *mtu_len
     * as an L3 length plus the device's link-layer header */
    len = *mtu_len ? *mtu_len + hh : (uint32_t)(x->data_end - x->data);
    len += (uint32_t)len_diff;
    *mtu_len = mtu;
    return (int32_t)len > (int32_t)(mtu + hh) ? 1 /* BPF_MTU_CHK_RET_FRAG_NEEDED */ : 0;
}

/* __bpf_skc_lookup / __bpf_sk_lookup as the XDP helpers call them: a
 * tuple of another size, flags, or a peer netns id (none is modelled)
 * give NULL, as a miss does. */
static uint64_t sk_lookup(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
                          uint8_t proto, int full, const char *helper)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, helper);
    uint32_t len = (uint32_t)r3, netns_id = (uint32_t)r4;   /* the XDP helpers take a u32 netns id */
    const struct dp_bpf_sock *sk;
    const void *tuple;
    struct dp_net *net;
    struct dp_rt *rt = RT(env);
    if (!x)
        return 0;
    tuple = dp_env_mem(env, r2, len, DP_REGION_READ);
    if (!tuple && len)
        return dp_env_fail(env, "%s: R2 invalid memory access: %u bytes at 0x%llx", helper, len,
                           (unsigned long long)r2);
    if (len != 12 && len != 36)    /* sizeof(tuple->ipv4) / sizeof(tuple->ipv6) */
        return 0;
    if (r5)
        return 0;
    if ((int32_t)netns_id >= 0)    /* get_net_ns_by_id: no peer namespaces are modelled */
        return 0;
    net = net_of(env, helper);
    if (!net)
        return 0;
    if (rt->nsk_held == DP_SK_HELD_MAX)
        return dp_env_fail(env, "%s: %u sockets held and not released", helper, DP_SK_HELD_MAX);
    sk = net->ops->sk_lookup(net, tuple, len, proto, x->ingress_ifindex, full);
    if (!sk)
        return 0;
    rt->sk_held[rt->nsk_held++] = sk;
    /* the program reads the struct bpf_sock (checked runs: a region) */
    if (!env->trusted && dp_env_add_region(env, sk, DP_BPF_SOCK_SIZE, DP_REGION_READ, 0)) {
        net->ops->sk_release(net, sk);
        rt->nsk_held--;
        return dp_env_fail(env, "%s: too many memory regions", helper);
    }
    return (uint64_t)(uintptr_t)sk;
}

uint64_t dp_h_sk_lookup_tcp(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    return sk_lookup(env, r1, r2, r3, r4, r5, 6, 1, "bpf_sk_lookup_tcp");
}

uint64_t dp_h_sk_lookup_udp(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    return sk_lookup(env, r1, r2, r3, r4, r5, 17, 1, "bpf_sk_lookup_udp");
}

uint64_t dp_h_skc_lookup_tcp(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    return sk_lookup(env, r1, r2, r3, r4, r5, 6, 0, "bpf_skc_lookup_tcp");
}

/* bpf_sk_release(sk): always 0 */
uint64_t dp_h_sk_release(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_rt *rt = RT(env);
    uint32_t i;
    (void)r2; (void)r3; (void)r4; (void)r5;
    for (i = rt ? rt->nsk_held : 0; i-- > 0;) {
        if ((uint64_t)(uintptr_t)rt->sk_held[i] == r1) {
            const struct dp_bpf_sock *sk = rt->sk_held[i];
            rt->sk_held[i] = rt->sk_held[--rt->nsk_held];
            rt->net->ops->sk_release(rt->net, sk);
            return 0;
        }
    }
    /* the verifier proves r1 is a held socket; unverified code must too */
    return dp_env_fail(env, "bpf_sk_release: R1 is not a socket this run holds (0x%llx)", (unsigned long long)r1);
}
