/*
 * IPv6 route lookups for bpf_fib_lookup (bpf_ipv6_fib_lookup of
 * net/core/filter.c): fib6_lookup / fib6_table_lookup (local then main,
 * lowest metric, device score), ip6_mtu_from_fib6 and a reduced
 * ipv6_dev_get_saddr; policy rules, neighbours and the result shared with
 * IPv4 come from fib.c (fib_impl.h).
 */
#include <errno.h>
#include <string.h>

#include "fib_impl.h"

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
        if (!dp_fib_rule_match(ru, fl, 1))
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

int64_t dp_fib6(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
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
    if (r->mp_count > 1)
        return -EOPNOTSUPP;    /* IPv6 multipath: rt6_multipath_hash is not modelled (dataplane.net) */
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
        return dp_fib_set_fwd(p, mtu);
    err = dp_fib_fill_neigh(s, odev, DP_AF_INET6, dst, p);
    if (err != DP_FIB_RET_SUCCESS)
        return err;
    return dp_fib_set_fwd(p, mtu);
}
