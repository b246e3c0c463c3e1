/* Snapshots of the network namespace model: building them from flat arrays
 * (sorted copies plus hash indexes) and the lookups the routing code uses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_key(uint64_t a, const uint8_t *b16)
{
    uint64_t x, y;
    memcpy(&x, b16, 8);
    memcpy(&y, b16 + 8, 8);
    x = mix64(a ^ mix64(x ^ mix64(y + 0x9e3779b97f4a7c15ull)));
    return x ? x : 1;          /* 0 marks an empty slot */
}

void dp_mask_prefix(uint8_t *out, const uint8_t *addr, uint8_t plen, uint8_t alen)
{
    uint32_t i;
    memset(out, 0, 16);
    for (i = 0; i < alen && plen; i++) {
        if (plen >= 8) {
            out[i] = addr[i];
            plen -= 8;
        } else {
            out[i] = addr[i] & (uint8_t)(0xff00u >> plen);
            plen = 0;
        }
    }
}

static uint32_t hash_cap(uint32_t n)
{
    uint32_t cap = 16;
    while (cap < n * 2 + 1)
        cap <<= 1;
    return cap;
}

static int route_cmp(const void *pa, const void *pb)
{
    const struct dp_route *a = pa, *b = pb;
    int c;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->table != b->table)
        return a->table < b->table ? -1 : 1;
    if (a->plen != b->plen)
        return a->plen > b->plen ? -1 : 1;       /* longest first */
    c = memcmp(a->dst, b->dst, 16);
    if (c)
        return c;
    /* fib_alias order: IPv4 by tos descending then priority; IPv6 leaves by metric */
    if (a->family == DP_AF_INET && a->dscp != b->dscp)
        return a->dscp > b->dscp ? -1 : 1;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int rule_cmp(const void *pa, const void *pb)
{
    const struct dp_rule *a = pa, *b = pb;
    if (a->priority != b->priority)
        return a->priority < b->priority ? -1 : 1;
    return 0;
}

static int dev_cmp(const void *pa, const void *pb)
{
    const struct dp_netdev *a = pa, *b = pb;
    return a->ifindex < b->ifindex ? -1 : a->ifindex > b->ifindex;
}

void dp_net_snap_free(struct dp_net_snap *s)
{
    if (!s)
        return;
    free(s->devs);
    free(s->addr4);
    free(s->addr6);
    free(s->routes);
    free(s->rules4);
    free(s->rules6);
    free(s->neigh);
    free(s->tabs);
    free(s->rhash);
    free(s->nhash);
    free(s->socks);
    free(s->shash);
    free(s->sidx);
    free(s);
}

void dp_net_snap_put(struct dp_net_snap *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        dp_net_snap_free(s);
}

static void *dup_array(const void *src, size_t n, size_t size)
{
    void *p = malloc(n ? n * size : 1);
    if (p && n)
        memcpy(p, src, n * size);
    return p;
}

/* The default rule sets of a fresh netns: IPv4 0 local, 32766 main, 32767
 * default; IPv6 0 local, 32766 main. Anything else means the kernel's
 * fib_has_custom_rules (and, for IPv4, local and main tables unmerged). */
static int default_rules(const struct dp_rule *r, uint32_t n, int v6)
{
    static const uint32_t prio[] = {0, 32766, 32767}, table[] = {255, 254, 253};
    uint32_t i, want = v6 ? 2 : 3;
    if (n != want)
        return 0;
    for (i = 0; i < n; i++) {
        const struct dp_rule *x = &r[i];
        if (x->priority != prio[i] || x->table != table[i] || x->action != DP_FR_ACT_TO_TBL || x->src_len ||
            x->dst_len || x->iif || x->oif || x->mark_mask || x->flags || x->dscp || x->ip_proto ||
            x->suppress_prefixlen != -1 || x->sport_hi || x->dport_hi || x->l3mdev)
            return 0;
    }
    return 1;
}

static int put_slot(struct dp_hslot *h, uint32_t mask, uint64_t key, uint32_t first, uint32_t count)
{
    uint32_t i = (uint32_t)key & mask, n;
    for (n = 0; n <= mask; n++, i = (i + 1) & mask) {
        if (!h[i].key) {
            h[i].key = key;
            h[i].first = first;
            h[i].count = count;
            return 0;
        }
    }
    return -1;
}

static uint64_t group_key(uint32_t tab, uint8_t plen, const uint8_t *prefix)
{
    return hash_key(((uint64_t)tab << 8) | plen, prefix);
}

static uint64_t neigh_key(uint32_t ifindex, uint8_t family, const uint8_t *addr)
{
    return hash_key(((uint64_t)ifindex << 8) | family | (1ull << 62), addr);
}

#define FAIL(code, ...) do { *err = (code); snprintf(msg, msglen, __VA_ARGS__); goto fail; } while (0)

struct dp_net_snap *dp_net_snap_build(const struct dp_netdev *devs, uint32_t ndev,
                                      const struct dp_addr4 *a4, uint32_t na4,
                                      const struct dp_addr6 *a6, uint32_t na6,
                                      const struct dp_route *routes, uint32_t nroute,
                                      const struct dp_rule *rules, uint32_t nrule,
                                      const struct dp_neigh *neigh, uint32_t nneigh,
                                      uint8_t fwd_use_pmtu, int *err, char *msg, uint32_t msglen)
{
    struct dp_net_snap *s;
    uint32_t i, j, n4 = 0, n6 = 0;
    *err = 0;
    msg[0] = 0;
    if (ndev > DP_NET_MAX_DEVS || na4 + na6 > DP_NET_MAX_ADDRS || nroute > DP_NET_MAX_ROUTES ||
        nrule > DP_NET_MAX_RULES || nneigh > DP_NET_MAX_NEIGH) {
        *err = -E2BIG;
        snprintf(msg, msglen, "network namespace model too large (limits: %u devices, %u addresses, %u routes, "
                 "%u rules, %u neighbours)", DP_NET_MAX_DEVS, DP_NET_MAX_ADDRS, DP_NET_MAX_ROUTES,
                 DP_NET_MAX_RULES, DP_NET_MAX_NEIGH);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->ndev = ndev;
    s->naddr4 = na4;
    s->naddr6 = na6;
    s->nroute = nroute;
    s->nneigh = nneigh;
    s->fwd_use_pmtu = fwd_use_pmtu;
    s->refs = 1;
    s->devs = dup_array(devs, ndev, sizeof(*devs));
    s->addr4 = dup_array(a4, na4, sizeof(*a4));
    s->addr6 = dup_array(a6, na6, sizeof(*a6));
    s->routes = dup_array(routes, nroute, sizeof(*routes));
    s->neigh = dup_array(neigh, nneigh, sizeof(*neigh));
    s->rules4 = malloc((nrule + 1) * sizeof(*rules));
    s->rules6 = malloc((nrule + 1) * sizeof(*rules));
    s->tabs = calloc(nroute + 1, sizeof(*s->tabs));
    if (!s->devs || !s->addr4 || !s->addr6 || !s->routes || !s->neigh || !s->rules4 || !s->rules6 || !s->tabs)
        FAIL(-ENOMEM, "out of memory");

    /* devices by ifindex, each pointing at its addresses (given grouped
     * per device in the kernel's order) */
    qsort(s->devs, ndev, sizeof(*s->devs), dev_cmp);
    for (i = 0; i < ndev; i++) {
        struct dp_netdev *d = &s->devs[i];
        if (!d->ifindex || (i && s->devs[i - 1].ifindex == d->ifindex))
            FAIL(-EINVAL, "device ifindex %u is 0 or given twice", d->ifindex);
        d->addr4_first = d->addr4_count = d->addr6_first = d->addr6_count = 0;
        for (j = 0; j < na4; j++)
            if (a4[j].ifindex == d->ifindex) {
                if (!d->addr4_count)
                    d->addr4_first = j;
                else if (d->addr4_first + d->addr4_count != j)
                    FAIL(-EINVAL, "IPv4 addresses of device %u are not grouped", d->ifindex);
                d->addr4_count++;
            }
        for (j = 0; j < na6; j++)
            if (a6[j].ifindex == d->ifindex) {
                if (!d->addr6_count)
                    d->addr6_first = j;
                else if (d->addr6_first + d->addr6_count != j)
                    FAIL(-EINVAL, "IPv6 addresses of device %u are not grouped", d->ifindex);
                d->addr6_count++;
            }
    }

    /* rules per family, by priority (stable: qsort is not, so keep order in the key) */
    for (i = 0; i < nrule; i++) {
        if (rules[i].family == DP_AF_INET)
            s->rules4[n4++] = rules[i];
        else if (rules[i].family == DP_AF_INET6)
            s->rules6[n6++] = rules[i];
        else
            FAIL(-EINVAL, "rule %u: family %u is not AF_INET/AF_INET6", i, rules[i].family);
    }
    for (i = 1; i < n4; i++)
        if (s->rules4[i].priority < s->rules4[i - 1].priority)
            break;
    if (i < n4)
        qsort(s->rules4, n4, sizeof(*rules), rule_cmp);
    for (i = 1; i < n6; i++)
        if (s->rules6[i].priority < s->rules6[i - 1].priority)
            break;
    if (i < n6)
        qsort(s->rules6, n6, sizeof(*rules), rule_cmp);
    s->nrule4 = n4;
    s->nrule6 = n6;
    s->custom_rules4 = !default_rules(s->rules4, n4, 0);
    s->custom_rules6 = !default_rules(s->rules6, n6, 1);

    /* routes: validate, normalise the prefix, sort into groups, index them */
    for (i = 0; i < nroute; i++) {
        struct dp_route *r = &s->routes[i];
        uint8_t alen = r->family == DP_AF_INET ? 4 : 16, tmp[16];
        if (r->family != DP_AF_INET && r->family != DP_AF_INET6)
            FAIL(-EINVAL, "route %u: family %u is not AF_INET/AF_INET6", i, r->family);
        if (r->plen > alen * 8)
            FAIL(-EINVAL, "route %u: prefix length %u too long", i, r->plen);
        dp_mask_prefix(tmp, r->dst, r->plen, alen);
        memcpy(r->dst, tmp, 16);
        r->order = i;
    }
    qsort(s->routes, nroute, sizeof(*s->routes), route_cmp);
    s->rhash_mask = hash_cap(nroute) - 1;
    s->rhash = calloc(s->rhash_mask + 1, sizeof(*s->rhash));
    if (!s->rhash)
        FAIL(-ENOMEM, "out of memory");
    for (i = 0; i < nroute; i = j) {
        const struct dp_route *r = &s->routes[i];
        struct dp_rtab *t;
        if (!s->ntab || s->tabs[s->ntab - 1].family != r->family || s->tabs[s->ntab - 1].table != r->table) {
            t = &s->tabs[s->ntab++];
            t->family = r->family;
            t->table = r->table;
        }
        t = &s->tabs[s->ntab - 1];
        if (!t->nplens || t->plens[t->nplens - 1] != r->plen)
            t->plens[t->nplens++] = r->plen;
        for (j = i + 1; j < nroute && s->routes[j].family == r->family && s->routes[j].table == r->table &&
                        s->routes[j].plen == r->plen && !memcmp(s->routes[j].dst, r->dst, 16); j++)
            ;
        if (put_slot(s->rhash, s->rhash_mask, group_key(s->ntab - 1, r->plen, r->dst), i, j - i))
            FAIL(-ENOMEM, "route hash full");
    }

    s->nhash_mask = hash_cap(nneigh) - 1;
    s->nhash = calloc(s->nhash_mask + 1, sizeof(*s->nhash));
    if (!s->nhash)
        FAIL(-ENOMEM, "out of memory");
    for (i = 0; i < nneigh; i++) {
        const struct dp_neigh *nb = &s->neigh[i];
        if (nb->family != DP_AF_INET && nb->family != DP_AF_INET6)
            FAIL(-EINVAL, "neighbour %u: family %u is not AF_INET/AF_INET6", i, nb->family);
        if (dp_snap_neigh(s, nb->ifindex, nb->family, nb->addr))
            continue;          /* first entry wins, as one key has one neighbour */
        if (put_slot(s->nhash, s->nhash_mask, neigh_key(nb->ifindex, nb->family, nb->addr), i, 1))
            FAIL(-ENOMEM, "neighbour hash full");
    }
    return s;
fail:
    dp_net_snap_free(s);
    return NULL;
}

const struct dp_netdev *dp_snap_dev(const struct dp_net_snap *s, uint32_t ifindex)
{
    uint32_t lo = 0, hi = s->ndev;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (s->devs[mid].ifindex == ifindex)
            return &s->devs[mid];
        if (s->devs[mid].ifindex < ifindex)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct dp_neigh *dp_snap_neigh(const struct dp_net_snap *s, uint32_t ifindex, uint8_t family,
                                     const uint8_t *addr)
{
    uint8_t key[16] = {0};
    uint64_t k;
    uint32_t i, n;
    memcpy(key, addr, family == DP_AF_INET ? 4 : 16);
    k = neigh_key(ifindex, family, key);
    for (n = 0, i = (uint32_t)k & s->nhash_mask; n <= s->nhash_mask; n++, i = (i + 1) & s->nhash_mask) {
        const struct dp_hslot *h = &s->nhash[i];
        if (!h->key)
            return NULL;
        if (h->key == k) {
            const struct dp_neigh *nb = &s->neigh[h->first];
            if (nb->ifindex == ifindex && nb->family == family && !memcmp(nb->addr, key, 16))
                return nb;
        }
    }
    return NULL;
}

int dp_snap_tab(const struct dp_net_snap *s, uint8_t family, uint32_t table)
{
    uint32_t i;
    for (i = 0; i < s->ntab; i++)
        if (s->tabs[i].family == family && s->tabs[i].table == table)
            return (int)i;
    return -1;
}

uint32_t dp_snap_group(const struct dp_net_snap *s, uint32_t tab, uint8_t plen, const uint8_t *prefix,
                       uint32_t *first)
{
    uint64_t k = group_key(tab, plen, prefix);
    uint32_t i, n;
    for (n = 0, i = (uint32_t)k & s->rhash_mask; n <= s->rhash_mask; n++, i = (i + 1) & s->rhash_mask) {
        const struct dp_hslot *h = &s->rhash[i];
        if (!h->key)
            return 0;
        if (h->key == k) {
            const struct dp_route *r = &s->routes[h->first];
            const struct dp_rtab *t = &s->tabs[tab];
            if (r->family == t->family && r->table == t->table && r->plen == plen && !memcmp(r->dst, prefix, 16)) {
                *first = h->first;
                return h->count;
            }
        }
    }
    return 0;
}

static uint64_t sock_key(uint8_t proto, uint16_t lport)
{
    static const uint8_t zero[16];
    return hash_key(((uint64_t)proto << 16) | lport | (1ull << 61), zero);
}

static const struct dp_sock *sort_socks;

static int sock_cmp(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    const struct dp_sock *x = &sort_socks[a], *y = &sort_socks[b];
    if (x->pub.protocol != y->pub.protocol)
        return x->pub.protocol < y->pub.protocol ? -1 : 1;
    if (x->lport != y->lport)
        return x->lport < y->lport ? -1 : 1;
    return a < b ? -1 : a > b;     /* the given order inside a bucket */
}

void dp_net_snap_set_mp(struct dp_net_snap *s, const struct dp_mp_conf *mp)
{
    s->mp = *mp;
}

int dp_net_snap_set_socks(struct dp_net_snap *s, const struct dp_sock *socks, uint32_t n, char *msg, uint32_t msglen)
{
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
    uint32_t i, j;
    if (n > DP_NET_MAX_SOCKS) {
        snprintf(msg, msglen, "too many sockets (limit %u)", DP_NET_MAX_SOCKS);
        return -E2BIG;
    }
    s->socks = dup_array(socks, n, sizeof(*socks));
    s->sidx = malloc((n + 1) * sizeof(*s->sidx));
    s->shash_mask = hash_cap(n) - 1;
    s->shash = calloc(s->shash_mask + 1, sizeof(*s->shash));
    if (!s->socks || !s->sidx || !s->shash) {
        snprintf(msg, msglen, "out of memory");
        return -ENOMEM;
    }
    s->nsock = n;
    for (i = 0; i < n; i++) {
        s->socks[i].snap = s;
        s->sidx[i] = i;
    }
    pthread_mutex_lock(&sort_lock);      /* qsort has no context argument */
    sort_socks = s->socks;
    qsort(s->sidx, n, sizeof(*s->sidx), sock_cmp);
    pthread_mutex_unlock(&sort_lock);
    for (i = 0; i < n; i = j) {
        const struct dp_sock *a = &s->socks[s->sidx[i]];
        for (j = i + 1; j < n && s->socks[s->sidx[j]].pub.protocol == a->pub.protocol &&
                        s->socks[s->sidx[j]].lport == a->lport; j++)
            ;
        if (put_slot(s->shash, s->shash_mask, sock_key((uint8_t)a->pub.protocol, a->lport), i, j - i)) {
            snprintf(msg, msglen, "socket hash full");
            return -ENOMEM;
        }
    }
    return 0;
}

uint32_t dp_snap_sock_bucket(const struct dp_net_snap *s, uint8_t proto, uint16_t lport, const uint32_t **idx)
{
    uint64_t k = sock_key(proto, lport);
    uint32_t i, n;
    if (!s->nsock)
        return 0;
    for (n = 0, i = (uint32_t)k & s->shash_mask; n <= s->shash_mask; n++, i = (i + 1) & s->shash_mask) {
        const struct dp_hslot *h = &s->shash[i];
        if (!h->key)
            return 0;
        if (h->key == k) {
            const struct dp_sock *sk = &s->socks[s->sidx[h->first]];
            if (sk->pub.protocol == proto && sk->lport == lport) {
                *idx = &s->sidx[h->first];
                return h->count;
            }
        }
    }
    return 0;
}
