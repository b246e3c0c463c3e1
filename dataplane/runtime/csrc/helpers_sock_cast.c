/* The socket casts of net/core/filter.c (bpf_skc_to_tcp_sock and its
 * siblings): the same socket when it is of the cast's kind, else NULL.
 * A socket here is what a lookup handed out (a struct bpf_sock of the
 * namespace model, dataplane/net), so the tests are the kernel's, on the
 * fields the model keeps: sk_fullsock() is "neither TCP_TIME_WAIT nor
 * TCP_NEW_SYN_RECV", sk_prot == &tcp_prot / &tcpv6_prot is "protocol TCP". */
#include <stddef.h>

#include "dp_helpers.h"

#define RT(env) ((struct dp_rt *)(env)->user)
#define AF_UNIX_ 1
#define AF_INET6_ 10
#define SOCK_DGRAM_ 2
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_TIME_WAIT_ 6
#define TCP_NEW_SYN_RECV_ 12

enum sk_cast { CAST_TCP6, CAST_TCP, CAST_TCP_TW, CAST_TCP_REQ, CAST_UDP6, CAST_UNIX };

const struct dp_bpf_sock *dp_sk_held(struct dp_env *env, uint64_t r1, const char *helper)
{
    struct dp_rt *rt = RT(env);
    uint32_t i;
    for (i = rt ? rt->nsk_held : 0; i-- > 0;)
        if ((uint64_t)(uintptr_t)rt->sk_held[i] == r1)
            return rt->sk_held[i];
    /* the verifier proves r1 is a socket; unverified code must too */
    dp_env_fail(env, "%s: R1 is not a socket this run holds (0x%llx)", helper, (unsigned long long)r1);
    return NULL;
}

static uint64_t sk_cast(struct dp_env *env, uint64_t r1, enum sk_cast kind, const char *helper)
{
    const struct dp_bpf_sock *sk = dp_sk_held(env, r1, helper);
    int full, ok = 0;
    if (!sk)
        return 0;
    full = sk->state != TCP_TIME_WAIT_ && sk->state != TCP_NEW_SYN_RECV_;
    switch (kind) {
    case CAST_TCP6: ok = full && sk->protocol == IPPROTO_TCP_ && sk->family == AF_INET6_; break;
    case CAST_TCP: ok = full && sk->protocol == IPPROTO_TCP_; break;
    case CAST_TCP_TW: ok = sk->protocol == IPPROTO_TCP_ && sk->state == TCP_TIME_WAIT_; break;
    case CAST_TCP_REQ: ok = sk->protocol == IPPROTO_TCP_ && sk->state == TCP_NEW_SYN_RECV_; break;
    case CAST_UDP6:
        ok = full && sk->protocol == IPPROTO_UDP_ && sk->type == SOCK_DGRAM_ && sk->family == AF_INET6_;
        break;
    case CAST_UNIX: ok = full && sk->family == AF_UNIX_; break;
    }
    return ok ? r1 : 0;
}

#define SK_CAST(name, kind)                                                                              \
    uint64_t dp_h_##name(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) \
    {                                                                                                    \
        (void)r2; (void)r3; (void)r4; (void)r5;                                                          \
        return sk_cast(env, r1, kind, "bpf_" #name);                                                    \
    }

SK_CAST(skc_to_tcp6_sock, CAST_TCP6)
SK_CAST(skc_to_tcp_sock, CAST_TCP)
SK_CAST(skc_to_tcp_timewait_sock, CAST_TCP_TW)
SK_CAST(skc_to_tcp_request_sock, CAST_TCP_REQ)
SK_CAST(skc_to_udp6_sock, CAST_UDP6)
SK_CAST(skc_to_unix_sock, CAST_UNIX)
