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
 * Not modelled (documented in dataplane/net/__init__.py): multipath hash
 * selection (the first live next hop is used), IPv6 source-specific routes,
 * PMTU exceptions, l3mdev/VRF, lightweight tunnels.
 */
#include <errno.h>
#include <string.h>

#include "net_impl.h"

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

struct flow {
    uint8_t family;
    uint8_t dscp, proto;
    uint32_t iif, oif, mark;
    uint16_t sport, dport;     /* host order */
    uint8_t src[16], dst[16];
};

struct result {
    const struct dp_route *r;
};

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
                int err;
                if (r->dscp && r->dscp != (fl->dscp & 0x07))   /* fib_dscp_masked_match: IPTOS_RT_MASK */
                    continue;
                err = type_error(r->type);
                if (err)
                    return err;
                if (!nh_good(s, r, fl))
                    continue;
                res->r = r;
                return 0;
            }
        }
    }
    return -EAGAIN;
}

static int rule_match(const struct dp_rule *ru, const struct flow *fl, int v6)
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
        if (!rule_match(ru, fl, 0))
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

static int fill_neigh(const struct dp_net_snap *s, const struct dp_netdev *d, uint8_t family, const uint8_t *addr,
                      struct dp_bpf_fib_lookup *p)
{
    const struct dp_neigh *nb = neigh_of(s, d, family, addr);
    if (!nb || !(nb->state & DP_NUD_VALID))
        return DP_FIB_RET_NO_NEIGH;
    memcpy(p->dmac, nb->lladdr, 6);
    memcpy(p->smac, d->mac, 6);
    return DP_FIB_RET_SUCCESS;
}

/* bpf_fib_set_fwd_params */
static int set_fwd(struct dp_bpf_fib_lookup *p, uint32_t mtu)
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
        return set_fwd(p, mtu);
    err = r->gw_family == DP_AF_INET6 ? fill_neigh(s, odev, DP_AF_INET6, (const uint8_t *)p->dst, p)
                                      : fill_neigh(s, odev, DP_AF_INET, (const uint8_t *)p->dst, p);
    if (err != DP_FIB_RET_SUCCESS)
        return err;
    return set_fwd(p, mtu);
}

/* ---------------------------------------------------------------- IPv6 */

/* rt6_need_strict: multicast, link-local and loopback never forward */
static int v6_need_strict(const uint8_t *a)
{
    static const uint8_t loopback[16] = {[15] = 1};
    return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) || !memcmp(a, loopback, 16);
}

static int v6_any(const uint8_t *a)
{
    static const uint8_t zero[16];
    return !memcmp(a, zero, 16);
}

static int fib6_usable(const struct dp_net_snap *s, const struct dp_route *r)
{
    const struct dp_netdev *d;
    if (r->type != DP_RTN_UNICAST)
        return 1;              /* reject routes have no next hop to fail */
    if (r->nh_flags & DP_RTNH_F_DEAD)
        return 0;
    d = dp_snap_dev(s, r->oif);
    return !(d && d->ignore_linkdown6 && (r->nh_flags & DP_RTNH_F_LINKDOWN));
}

/* the best of routes [lo, hi): the first with the highest rt6_check_dev
 * score (2 via the flow's oif or without one, else 0) */
static const struct dp_route *fib6_pick(const struct dp_net_snap *s, uint32_t lo, uint32_t hi, const struct flow *fl)
{
    const struct dp_route *best = NULL;
    int best_score = -1;
    uint32_t i;
    for (i = lo; i < hi; i++) {
        const struct dp_route *r = &s->routes[i];
        int score;
        if (!fib6_usable(s, r))
            continue;
        score = (!fl->oif || r->oif == fl->oif) ? 2 : 0;
        if (score > best_score) {
            best = r;
            best_score = score;
        }
    }
    return best;
}

/* one fib6 table (fib6_table_lookup): the longest prefix with a usable
 * route (fib6_backtrack otherwise); in it the lowest metric's routes first,
 * the higher metrics only when none of those is usable (find_rr_leaf) */
static int fib6_table(const struct dp_net_snap *s, int tab, const struct flow *fl, struct result *res)
{
    const struct dp_rtab *t;
    int k;
    if (tab < 0)
        return -EAGAIN;
    t = &s->tabs[tab];
    for (k = 0; k < t->nplens; k++) {
        uint8_t prefix[16];
        uint32_t first = 0, n, split;
        const struct dp_route *best;
        dp_mask_prefix(prefix, fl->dst, t->plens[k], 16);
        n = dp_snap_group(s, (uint32_t)tab, t->plens[k], prefix, &first);
        if (!n)
            continue;
        for (split = first + 1; split < first + n && s->routes[split].priority == s->routes[first].priority; split++)
            ;
        best = fib6_pick(s, first, split, fl);
        if (!best)
            best = fib6_pick(s, split, first + n, fl);
        if (best) {
            res->r = best;
            return 0;
        }
    }
    return -EAGAIN;            /* fib6_null_entry */
}

static int fib6_lookup(const struct dp_net_snap *s, const struct flow *fl, struct result *res)
{
    uint32_t i;
    if (!s->custom_rules6) {
        if (!fib6_table(s, dp_snap_tab(s, DP_AF_INET6, DP_RT_TABLE_LOCAL), fl, res))
            return 0;
        return fib6_table(s, dp_snap_tab(s, DP_AF_INET6, DP_RT_TABLE_MAIN), fl, res);
    }
    for (i = 0; i < s->nrule6; i++) {
        const struct dp_rule *ru = &s->rules6[i];
        int err;
        if (!rule_match(ru, fl, 1))
            continue;
        switch (ru->action) {
        case DP_FR_ACT_GOTO: {
            uint32_t j;
            for (j = i + 1; j < s->nrule6 && s->rules6[j].priority != ru->target; j++)
                ;
            if (j < s->nrule6)
                i = j - 1;
            continue;
        }
        case DP_FR_ACT_NOP: continue;
        case DP_FR_ACT_TO_TBL: break;
        default: return -EINVAL;          /* unreachable/prohibit/blackhole: not forwarded */
        }
        err = fib6_table(s, dp_snap_tab(s, DP_AF_INET6, ru->table), fl, res);
        if (!err && ru->suppress_prefixlen >= 0 && (int)res->r->plen <= ru->suppress_prefixlen)
            continue;          /* fib6_rule_suppress */
        if (err != -EAGAIN)
            return err;
    }
    return -EAGAIN;
}

/* ipv6_addr_scope class for source selection: 0x0e global, 0x05 site, 0x02 link, 0x01 host */
static int v6_scope(const uint8_t *a)
{
    static const uint8_t loopback[16] = {[15] = 1};
    if (a[0] == 0xff)
        return a[1] & 0x0f;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return 0x02;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
        return 0x05;
    if (!memcmp(a, loopback, 16))
        return 0x01;
    return 0x0e;
}

static int common_prefix(const uint8_t *a, const uint8_t *b)
{
    int i, n = 0;
    for (i = 0; i < 16; i++) {
        uint8_t x = a[i] ^ b[i];
        if (!x) {
            n += 8;
            continue;
        }
        return n + __builtin_clz((unsigned)x) - 24;
    }
    return n;
}

/* A reduced ipv6_dev_get_saddr (RFC 6724): candidates on the egress
 * device for link-local destinations, else on every device; rules 1 (the
 * destination itself), 2 (scope), 3 (avoid deprecated), 5 (the egress
 * device) and 8 (longest matching prefix). Tentative addresses never count. */
static int select_addr6(const struct dp_net_snap *s, const struct dp_netdev *odev, const uint8_t *dst, uint8_t *out)
{
    int dscope = v6_scope(dst), best = -1, bscore[4] = {0};
    uint32_t i, d;
    for (d = 0; d < s->ndev; d++) {
        const struct dp_netdev *dv = &s->devs[d];
        if (dscope <= 0x02 && dv != odev)
            continue;
        for (i = 0; i < dv->addr6_count; i++) {
            const struct dp_addr6 *a = &s->addr6[dv->addr6_first + i];
            int sc = v6_scope(a->addr), sc_score, score[4];
            if (a->flags & 0x40)       /* IFA_F_TENTATIVE */
                continue;
            if (!memcmp(a->addr, dst, 16)) {
                memcpy(out, a->addr, 16);
                return 0;
            }
            /* rule 2: the smallest scope >= the destination's, else the largest */
            sc_score = sc >= dscope ? 1000 - sc : sc;
            score[0] = sc_score;
            score[1] = !(a->flags & 0x20);         /* not deprecated */
            score[2] = dv == odev;
            score[3] = common_prefix(a->addr, dst) < a->plen ? common_prefix(a->addr, dst) : a->plen;
            if (best < 0 || memcmp(score, bscore, sizeof(score)) > 0) {
                int k, better = best < 0;
                for (k = 0; k < 4 && !better; k++) {
                    if (score[k] != bscore[k]) {
                        better = score[k] > bscore[k];
                        break;
                    }
                }
                if (better) {
                    best = (int)(dv->addr6_first + i);
                    memcpy(bscore, score, sizeof(score));
                }
            }
        }
    }
    if (best < 0)
        return -1;
    memcpy(out, s->addr6[best].addr, 16);
    return 0;
}

static int64_t fib6(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
{
    const struct dp_netdev *dev, *odev;
    const struct dp_route *r;
    struct result res = {0};
    struct flow fl;
    uint8_t *src = (uint8_t *)p->src, *dst = (uint8_t *)p->dst;
    uint32_t mtu = 0;
    int err;
    if (v6_need_strict(dst) || v6_need_strict(src))
        return DP_FIB_RET_NOT_FWDED;
    dev = dp_snap_dev(s, p->ifindex);
    if (!dev)
        return -ENODEV;
    if (!dev->has_in6 || !dev->fwd6)
        return DP_FIB_RET_FWD_DISABLED;
    memset(&fl, 0, sizeof(fl));
    fl.family = DP_AF_INET6;
    if (flags & DP_FIB_LOOKUP_OUTPUT) {
        fl.iif = 1;
        fl.oif = p->ifindex;
    } else {
        fl.iif = p->ifindex;
    }
    fl.dscp = (uint8_t)((__builtin_bswap32(p->tos) >> 22) & 0x3f);
    fl.proto = p->l4_protocol;
    memcpy(fl.dst, dst, 16);
    memcpy(fl.src, src, 16);
    fl.sport = __builtin_bswap16(p->sport);
    fl.dport = __builtin_bswap16(p->dport);
    if (flags & DP_FIB_LOOKUP_DIRECT) {
        uint32_t tbid = DP_RT_TABLE_MAIN;
        int tab;
        if (flags & DP_FIB_LOOKUP_TBID) {
            memcpy(&tbid, &p->h_vlan_proto, 4);
            memset(&p->h_vlan_proto, 0, 4);
        }
        tab = dp_snap_tab(s, DP_AF_INET6, tbid);
        if (tab < 0 && tbid != DP_RT_TABLE_MAIN && tbid != DP_RT_TABLE_LOCAL)
            return DP_FIB_RET_NOT_FWDED;
        err = fib6_table(s, tab, &fl, &res);
    } else {
        if (flags & DP_FIB_LOOKUP_MARK)
            memcpy(&fl.mark, p->smac, 4);
        err = fib6_lookup(s, &fl, &res);
    }
    if (err)
        return DP_FIB_RET_NOT_FWDED;
    r = res.r;
    switch (r->type) {
    case DP_RTN_UNICAST: break;
    case DP_RTN_BLACKHOLE: return DP_FIB_RET_BLACKHOLE;
    case DP_RTN_UNREACHABLE: return DP_FIB_RET_UNREACHABLE;
    case DP_RTN_PROHIBIT: return DP_FIB_RET_PROHIBIT;
    default: return DP_FIB_RET_NOT_FWDED;
    }
    odev = dp_snap_dev(s, r->oif);
    if (!odev)
        return DP_FIB_RET_NOT_FWDED;
    if (check_mtu) {
        /* ip6_mtu_from_fib6: a locked route MTU, else the device's mtu6 (>= IPV6_MIN_MTU) */
        if (r->mtu_locked && r->mtu)
            mtu = r->mtu;
        else
            mtu = odev->mtu6 > 1280 ? odev->mtu6 : 1280;
        if (mtu > 65535)
            mtu = 65535;       /* IP6_MAX_MTU */
        if (p->tot_len > mtu) {
            p->tot_len = (uint16_t)mtu;
            return DP_FIB_RET_FRAG_NEEDED;
        }
    }
    if (r->gw_family)
        memcpy(dst, r->gw, 16);
    p->tos = r->priority;
    p->ifindex = odev->ifindex;
    if (flags & DP_FIB_LOOKUP_SRC) {
        if (r->has_prefsrc && !v6_any(r->prefsrc))
            memcpy(src, r->prefsrc, 16);
        else if (select_addr6(s, odev, fl.dst, src))
            return DP_FIB_RET_NO_SRC_ADDR;
    }
    if (flags & DP_FIB_LOOKUP_SKIP_NEIGH)
        return set_fwd(p, mtu);
    err = fill_neigh(s, odev, DP_AF_INET6, dst, p);
    if (err != DP_FIB_RET_SUCCESS)
        return err;
    return set_fwd(p, mtu);
}

int64_t dp_fib_lookup_snap(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
{
    return p->family == DP_AF_INET ? fib4(s, p, flags, check_mtu) : fib6(s, p, flags, check_mtu);
}
