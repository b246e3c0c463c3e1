/*
 * Route lookups with the kernel's semantics, for bpf_fib_lookup:
 * bpf_ipv4_fib_lookup / bpf_ipv6_fib_lookup of net/core/filter.c over the
 * model's tables - fib_lookup (policy rules, or local+main merged while the
 * rules are the defaults), fib_table_lookup (longest prefix, alias order,
 * next-hop liveness and oif), fib6_lookup / fib6_table_lookup (local then
 * main, lowest metric, device score), the MTU of the result
 * (ip_mtu_from_fib_result / ip6_mtu_from_fib6), the preferred source
 * (fib_result_prefsrc / a reduced ipv6_dev_get_saddr) and the neighbour.
 *
 * IPv4 multipath routes pick their next hop with the kernel's hash
 * (mphash.c). Not modelled (documented in dataplane/net/__init__.py): IPv6
 * multipath (the first next hop), IPv6 source-specific routes, PMTU
 * exceptions, l3mdev/VRF, lightweight tunnels, nexthop objects.
 */
#include <errno.h>
#include <string.h>

#include "fib_impl.h"

/* fib_props[type].error */
static int type_error(uint8_t type)
{
    switch (type) {
    case DP_RTN_BLACKHOLE: case DP_RTN_NAT: case DP_RTN_XRESOLVE: return -EINVAL;
    case DP_RTN_UNREACHABLE: return -EHOSTUNREACH;
    case DP_RTN_PROHIBIT: return -EACCES;
    case DP_RTN_THROW: return -EAGAIN;
    default: return 0;
    }
}

static int prefix_match(const uint8_t *addr, const uint8_t *prefix, uint8_t plen)
{
    uint8_t tmp[16];
    dp_mask_prefix(tmp, addr, plen, 16);
    return !memcmp(tmp, prefix, (plen + 7) / 8);
}

static int nh_good(const struct dp_net_snap *s, const struct dp_route *r, const struct flow *fl)
{
    const struct dp_netdev *d = dp_snap_dev(s, r->oif);
    uint8_t ign = d ? (r->family == DP_AF_INET ? d->ignore_linkdown4 : d->ignore_linkdown6) : 0;
    if (r->nh_flags & DP_RTNH_F_DEAD)
        return 0;
    if (ign && (r->nh_flags & DP_RTNH_F_LINKDOWN))
        return 0;
    if (fl->oif && fl->oif != r->oif)
        return 0;
    return 1;
}

/* fib_table_lookup over the tables of tabs[] merged (local before main at
 * one prefix, as tb_id orders aliases in the merged trie): 0 and *res, or
 * an errno (-EAGAIN: nothing, or a throw route). */
static int fib4_tables(const struct dp_net_snap *s, const int *tabs, int ntabs, const struct flow *fl,
                       struct result *res)
{
    uint8_t plen_seen[33] = {0};
    int t, k;
    for (t = 0; t < ntabs; t++)
        for (k = 0; tabs[t] >= 0 && k < s->tabs[tabs[t]].nplens; k++)
            plen_seen[s->tabs[tabs[t]].plens[k]] = 1;
    for (k = 32; k >= 0; k--) {
        uint8_t prefix[16];
        if (!plen_seen[k])
            continue;
        dp_mask_prefix(prefix, fl->dst, (uint8_t)k, 4);
        for (t = 0; t < ntabs; t++) {
            uint32_t first = 0, n, i;
            if (tabs[t] < 0)
                continue;
            n = dp_snap_group(s, (uint32_t)tabs[t], (uint8_t)k, prefix, &first);
            for (i = first; i < first + n; i++) {
                const struct dp_route *r = &s->routes[i];
                uint32_t j, nnh = r->mp_count > 1 ? r->mp_count : 1;
                int err;
                if (r->mp_index)
                    continue;          /* a next hop of the multipath route before it */
                if (r->dscp && r->dscp != (fl->dscp & 0x07))   /* fib_dscp_masked_match: IPTOS_RT_MASK */
                    continue;
                err = type_error(r->type);
                if (err)
                    return err;
                /* fib_table_lookup: the first usable next hop of the route */
                for (j = 0; j < nnh && i + j < first + n && !nh_good(s, r + j, fl); j++)
                    ;
                if (j == nnh || i + j >= first + n)
                    continue;
                res->r = r + j;
                res->mp = nnh > 1 ? r : NULL;
                return 0;
            }
        }
    }
    return -EAGAIN;
}

int dp_fib_rule_match(const struct dp_rule *ru, const struct flow *fl, int v6)
{
    int ok = 1;
    if (ru->iif && ru->iif != fl->iif)
        ok = 0;
    else if (ru->oif && ru->oif != fl->oif)
        ok = 0;
    else if ((ru->mark ^ fl->mark) & ru->mark_mask)
        ok = 0;
    else if (ru->l3mdev)       /* no l3mdev (VRF) devices are modelled */
        ok = 0;
    else if (ru->uid_lo > 0 || ru->uid_hi < 0xffffffffu)   /* flowi_uid is root's */
        ok = ru->uid_lo == 0;
    if (ok && ru->src_len && !prefix_match(fl->src, ru->src, ru->src_len))
        ok = 0;
    if (ok && ru->dst_len && !prefix_match(fl->dst, ru->dst, ru->dst_len))
        ok = 0;
    if (ok && ru->dscp && ru->dscp != (v6 ? fl->dscp : (fl->dscp & 0x07)))
        ok = 0;
    if (ok && ru->ip_proto && ru->ip_proto != fl->proto)
        ok = 0;
    if (ok && ru->sport_hi && (fl->sport < ru->sport_lo || fl->sport > ru->sport_hi))
        ok = 0;
    if (ok && ru->dport_hi && (fl->dport < ru->dport_lo || fl->dport > ru->dport_hi))
        ok = 0;
    return (ru->flags & DP_FIB_RULE_INVERT) ? !ok : ok;
}

/* fib_lookup: -errno as the kernel's (mapped to BPF codes by the caller) */
static int fib4_lookup(const struct dp_net_snap *s, const struct flow *fl, struct result *res)
{
    uint32_t i;
    int err;
    if (!s->custom_rules4) {
        int tabs[2] = {dp_snap_tab(s, DP_AF_INET, DP_RT_TABLE_LOCAL), dp_snap_tab(s, DP_AF_INET, DP_RT_TABLE_MAIN)};
        int def = dp_snap_tab(s, DP_AF_INET, DP_RT_TABLE_DEFAULT);
        err = fib4_tables(s, tabs, 2, fl, res);
        if (err && def >= 0)
            err = fib4_tables(s, &def, 1, fl, res);
        return err == -EAGAIN ? -ENETUNREACH : err;
    }
    for (i = 0; i < s->nrule4; i++) {
        const struct dp_rule *ru = &s->rules4[i];
        int tab;
        if (!dp_fib_rule_match(ru, fl, 0))
            continue;
        switch (ru->action) {
        case DP_FR_ACT_GOTO: {
            uint32_t j;
            for (j = i + 1; j < s->nrule4 && s->rules4[j].priority != ru->target; j++)
                ;
            if (j < s->nrule4)
                i = j - 1;     /* the loop's i++ lands on the target */
            continue;
        }
        case DP_FR_ACT_NOP: continue;
        case DP_FR_ACT_TO_TBL: break;
        case DP_FR_ACT_UNREACHABLE: return -ENETUNREACH;
        case DP_FR_ACT_PROHIBIT: return -EACCES;
        default: return -EINVAL;
        }
        tab = dp_snap_tab(s, DP_AF_INET, ru->table);
        err = tab >= 0 ? fib4_tables(s, &tab, 1, fl, res) : -EAGAIN;
        if (!err && ru->suppress_prefixlen >= 0 && (int)res->r->plen <= ru->suppress_prefixlen)
            continue;          /* fib4_rule_suppress */
        if (err != -EAGAIN)
            return err;
    }
    return -ENETUNREACH;       /* -ESRCH from the rules */
}

static const struct dp_neigh *neigh_of(const struct dp_net_snap *s, const struct dp_netdev *d, uint8_t family,
                                       const uint8_t *addr)
{
    static const uint8_t any[16];
    /* __ipv4_neigh_lookup_noref: loopback and point-to-point devices have one neighbour, 0.0.0.0 */
    if (family == DP_AF_INET && (d->flags & (DP_IFF_LOOPBACK | DP_IFF_POINTOPOINT)))
        addr = any;
    return dp_snap_neigh(s, d->ifindex, family, addr);
}

int dp_fib_fill_neigh(const struct dp_net_snap *s, const struct dp_netdev *d, uint8_t family, const uint8_t *addr,
                      struct dp_bpf_fib_lookup *p)
{
    const struct dp_neigh *nb = neigh_of(s, d, family, addr);
    if (!nb || !(nb->state & DP_NUD_VALID))
        return DP_FIB_RET_NO_NEIGH;
    memcpy(p->dmac, nb->lladdr, 6);
    memcpy(p->smac, d->mac, 6);
    return DP_FIB_RET_SUCCESS;
}

/* fib_good_nh: a gateway whose neighbour entry exists but is not
 * NUD_VALID is not good; no entry (or no gateway) is */
int dp_fib_nh_good(const struct dp_net_snap *s, const struct dp_route *nh)
{
    const struct dp_netdev *d = dp_snap_dev(s, nh->oif);
    const struct dp_neigh *nb;
    if (!nh->gw_family || !d)
        return 1;
    nb = neigh_of(s, d, nh->gw_family, nh->gw);
    return !nb || (nb->state & DP_NUD_VALID);
}

/* bpf_fib_set_fwd_params */
int dp_fib_set_fwd(struct dp_bpf_fib_lookup *p, uint32_t mtu)
{
    p->h_vlan_TCI = 0;
    p->h_vlan_proto = 0;
    if (mtu)
        p->tot_len = (uint16_t)mtu;
    return DP_FIB_RET_SUCCESS;
}

static int addr4_in_subnet(uint32_t a, uint32_t b, uint8_t plen)
{
    uint32_t mask = plen ? __builtin_bswap32(0xffffffffu << (32 - plen)) : 0;
    return !((a ^ b) & mask);
}

/* in_dev_select_addr */
static uint32_t dev_select_addr4(const struct dp_net_snap *s, const struct dp_netdev *d, uint8_t scope)
{
    uint8_t localnet = d->route_localnet ? 253 : 254;
    uint32_t i;
    for (i = 0; i < d->addr4_count; i++) {
        const struct dp_addr4 *a = &s->addr4[d->addr4_first + i];
        uint8_t sc = a->scope < localnet ? a->scope : localnet;
        if (sc > scope)
            continue;
        if (!(a->flags & DP_IFA_F_SECONDARY) && a->scope <= scope)
            return a->local;
    }
    return 0;
}

/* inet_select_addr(dev, dst, scope) */
static uint32_t select_addr4(const struct dp_net_snap *s, const struct dp_netdev *d, uint32_t dst, uint8_t scope)
{
    uint8_t localnet = d->route_localnet ? 253 : 254;
    uint32_t i, addr = 0;
    if (d->has_in4) {
        for (i = 0; i < d->addr4_count; i++) {
            const struct dp_addr4 *a = &s->addr4[d->addr4_first + i];
            uint8_t sc = a->scope < localnet ? a->scope : localnet;
            if (a->flags & DP_IFA_F_SECONDARY)
                continue;
            if (sc > scope)
                continue;
            if (!dst || addr4_in_subnet(dst, a->local, a->plen))
                return a->local;
            if (!addr)
                addr = a->local;
        }
        if (addr)
            return addr;
    }
    /* then every device, loopback first (the dev_base order by ifindex) */
    for (i = 0; i < s->ndev; i++) {
        uint32_t v;
        if (!s->devs[i].has_in4)
            continue;
        v = dev_select_addr4(s, &s->devs[i], scope);
        if (v)
            return v;
    }
    return 0;
}

/* A next hop's nh_saddr (fib_info_update_nhc_saddr: inet_select_addr on
 * its device, toward its gateway, at the route's scope) */
uint32_t dp_fib_nh_saddr4(const struct dp_net_snap *s, const struct dp_route *nh)
{
    const struct dp_netdev *d = dp_snap_dev(s, nh->oif);
    uint32_t gw = 0;
    if (!d)
        return 0;
    if (nh->gw_family == DP_AF_INET)
        memcpy(&gw, nh->gw, 4);
    return select_addr4(s, d, gw, nh->scope);
}

static uint32_t route_mtu4(const struct dp_net_snap *s, const struct dp_route *r, const struct dp_netdev *d)
{
    uint32_t mtu = 0;
    if (s->fwd_use_pmtu || r->mtu_locked)
        mtu = r->mtu;
    if (!mtu)
        mtu = d->mtu < 0xFFF0u ? d->mtu : 0xFFF0u;   /* IP_MAX_MTU */
    return mtu;
}

static int64_t fib4(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
{
    const struct dp_netdev *dev = dp_snap_dev(s, p->ifindex), *odev;
    const struct dp_route *r;
    struct result res = {0};
    struct flow fl;
    uint32_t mtu = 0;
    int err;
    if (!dev)
        return -ENODEV;
    if (!dev->has_in4 || !dev->fwd4)
        return DP_FIB_RET_FWD_DISABLED;
    memset(&fl, 0, sizeof(fl));
    fl.family = DP_AF_INET;
    if (flags & DP_FIB_LOOKUP_OUTPUT) {
        fl.iif = 1;            /* LOOPBACK_IFINDEX */
        fl.oif = p->ifindex;
    } else {
        fl.iif = p->ifindex;
    }
    fl.dscp = (uint8_t)((p->tos & 0xff) >> 2);
    fl.proto = p->l4_protocol;
    memcpy(fl.dst, &p->dst[0], 4);
    memcpy(fl.src, &p->src[0], 4);
    fl.sport = __builtin_bswap16(p->sport);
    fl.dport = __builtin_bswap16(p->dport);
    if (flags & DP_FIB_LOOKUP_DIRECT) {
        uint32_t tbid = DP_RT_TABLE_MAIN;
        int tabs[2];
        if (flags & DP_FIB_LOOKUP_TBID) {
            memcpy(&tbid, &p->h_vlan_proto, 4);
            memset(&p->h_vlan_proto, 0, 4);
        }
        tabs[0] = dp_snap_tab(s, DP_AF_INET, tbid);
        tabs[1] = -1;
        /* without custom rules the local table lives in main's trie */
        if (tbid == DP_RT_TABLE_MAIN && !s->custom_rules4) {
            tabs[1] = tabs[0];
            tabs[0] = dp_snap_tab(s, DP_AF_INET, DP_RT_TABLE_LOCAL);
        }
        if (tabs[0] < 0 && tabs[1] < 0) {
            /* fib_get_table: main and local always exist; other ids only with routes */
            if (tbid != DP_RT_TABLE_MAIN && tbid != DP_RT_TABLE_LOCAL)
                return DP_FIB_RET_NOT_FWDED;
        }
        err = fib4_tables(s, tabs, 2, &fl, &res);
    } else {
        if (flags & DP_FIB_LOOKUP_MARK)
            memcpy(&fl.mark, p->smac, 4);
        err = fib4_lookup(s, &fl, &res);
    }
    if (err) {
        if (err == -EINVAL)
            return DP_FIB_RET_BLACKHOLE;
        if (err == -EHOSTUNREACH)
            return DP_FIB_RET_UNREACHABLE;
        if (err == -EACCES)
            return DP_FIB_RET_PROHIBIT;
        return DP_FIB_RET_NOT_FWDED;
    }
    if (res.mp && !fl.oif) {
        /* fib_select_path: the multipath hash, unless the flow has an oif */
        res.r = res.mp + dp_fib_mp_select(s, res.mp, &fl, (int)(res.r - res.mp));
    }
    r = res.r;
    if (r->type != DP_RTN_UNICAST)
        return DP_FIB_RET_NOT_FWDED;
    odev = dp_snap_dev(s, r->oif);
    if (!odev)
        return DP_FIB_RET_NOT_FWDED;   /* a route to a device the model lacks */
    if (check_mtu) {
        mtu = route_mtu4(s, r, odev);
        if (p->tot_len > mtu) {
            p->tot_len = (uint16_t)mtu;
            return DP_FIB_RET_FRAG_NEEDED;
        }
    }
    p->tos = r->priority;      /* rt_metric */
    p->ifindex = odev->ifindex;
    if (flags & DP_FIB_LOOKUP_SRC) {
        uint32_t src = 0, gw = 0;
        if (r->has_prefsrc) {
            memcpy(&src, r->prefsrc, 4);
        } else {
            if (r->gw_family == DP_AF_INET)
                memcpy(&gw, r->gw, 4);
            src = select_addr4(s, odev, gw, r->scope);
        }
        p->src[0] = src;
    }
    if (r->gw_family == DP_AF_INET) {
        memcpy(&p->dst[0], r->gw, 4);
    } else if (r->gw_family == DP_AF_INET6) {
        p->family = DP_AF_INET6;
        memcpy(p->dst, r->gw, 16);
    }
    if (flags & DP_FIB_LOOKUP_SKIP_NEIGH)
        return dp_fib_set_fwd(p, mtu);
    err = r->gw_family == DP_AF_INET6 ? dp_fib_fill_neigh(s, odev, DP_AF_INET6, (const uint8_t *)p->dst, p)
                                      : dp_fib_fill_neigh(s, odev, DP_AF_INET, (const uint8_t *)p->dst, p);
    if (err != DP_FIB_RET_SUCCESS)
        return err;
    return dp_fib_set_fwd(p, mtu);
}

int64_t dp_fib_lookup_snap(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
{
    return p->family == DP_AF_INET ? fib4(s, p, flags, check_mtu) : dp_fib6(s, p, flags, check_mtu);
}
