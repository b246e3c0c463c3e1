/*
 * fib_impl.h - private to fib.c (IPv4, policy rules, neighbours, the
 * bpf_fib_lookup entry point) and fib6.c (IPv6): the flow a lookup is
 * keyed by and the pieces both families share.
 */
#ifndef DP_FIB_IMPL_H
#define DP_FIB_IMPL_H

#include "net_impl.h"

struct flow {
    uint8_t family;
    uint8_t dscp, proto;
    uint32_t iif, oif, mark;
    uint16_t sport, dport;     /* host order */
    uint8_t src[16], dst[16];
};

struct result {
    const struct dp_route *r;
    const struct dp_route *mp;     /* the first next hop of a multipath route, or NULL */
};

int dp_fib_rule_match(const struct dp_rule *ru, const struct flow *fl, int v6);
int dp_fib_fill_neigh(const struct dp_net_snap *s, const struct dp_netdev *d, uint8_t family, const uint8_t *addr,
                      struct dp_bpf_fib_lookup *p);
int dp_fib_set_fwd(struct dp_bpf_fib_lookup *p, uint32_t mtu);
int dp_fib_nh_good(const struct dp_net_snap *s, const struct dp_route *nh);
uint32_t dp_fib_nh_saddr4(const struct dp_net_snap *s, const struct dp_route *nh);
uint32_t dp_fib_mp_hash4(const struct dp_mp_conf *c, const struct flow *fl);
int dp_fib_mp_select(const struct dp_net_snap *s, const struct dp_route *r, const struct flow *fl, int dflt);
int64_t dp_fib6(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu);

#endif /* DP_FIB_IMPL_H */
