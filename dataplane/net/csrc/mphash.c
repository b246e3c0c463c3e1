/*
 * The kernel's multipath hash for bpf_fib_lookup (IPv4): fib_multipath_hash
 * of net/ipv4/route.c as bpf_ipv4_fib_lookup reaches it (no skb: the flow's
 * fields only, flowi4_multipath_hash 0), and the path it picks
 * (fib_select_multipath of net/ipv4/fib_semantics.c over the upper bounds
 * fib_rebalance gives each next hop; the model computes those bounds).
 *
 * The hash is flow_hash_from_keys_seed: SipHash-2-4 over struct flow_keys
 * from its `basic` member (offset 8 in the 6.18 BTF) for 48 bytes (IPv4
 * addresses), after __flow_hash_consistentify orders the addresses and the
 * ports; the key is the user's net.ipv4.fib_multipath_hash_seed in both
 * halves of both words (fib_multipath_hash_construct_key). With the seed
 * unset (0, the default) the kernel hashes with a random key of its own
 * (net_get_random_once), which no model can know: dataplane then hashes
 * with a random key of its own too, drawn once per process, so each flow
 * keeps one valid path and flows spread by the same weights -- what the
 * kernel promises -- though not necessarily onto the kernel's path for that
 * flow. Refusing the lookup instead would stop every router on a default
 * sysctl from forwarding multipath traffic.
 *
 * Policies: 0 (L3) and 2 (L3 or inner L3: without an skb, L3) hash the
 * addresses; 1 (L4) the addresses, protocol and ports; 3 (custom) the
 * fields net.ipv4.fib_multipath_hash_fields names (outer ones; the inner
 * fields need an skb, which bpf_fib_lookup does not pass).
 */
#include <string.h>
#include <sys/random.h>

#include "dp_siphash.h"
#include "fib_impl.h"

/* FIB_MULTIPATH_HASH_FIELD_* (include/net/ip_fib.h) */
#define F_SRC_IP 0x1u
#define F_DST_IP 0x2u
#define F_IP_PROTO 0x4u
#define F_SRC_PORT 0x10u
#define F_DST_PORT 0x20u

/* The hashed part of struct flow_keys for IPv4, from `basic` on: the
 * offsets below are the kernel's minus 8 (flow_keys_hash_start). */
#define K_LEN 48u
#define K_IP_PROTO 2u
#define K_PORTS 28u
#define K_ADDRS 36u

uint32_t dp_fib_mp_hash4(const struct dp_mp_conf *c, const struct flow *fl)
{
    uint8_t k[K_LEN];
    uint32_t src, dst, fields;
    uint16_t sport = 0, dport = 0;     /* network order, as in struct flowi4 */
    uint64_t key, h;
    memset(k, 0, sizeof(k));
    switch (c->policy) {
    case 1: fields = F_SRC_IP | F_DST_IP | F_IP_PROTO | F_SRC_PORT | F_DST_PORT; break;
    case 3: fields = c->fields; break;
    default: fields = F_SRC_IP | F_DST_IP; break;   /* 0, and 2 without an skb */
    }
    if (c->policy == 3 && !(fields & (F_SRC_IP | F_DST_IP | F_IP_PROTO | 0x8u | F_SRC_PORT | F_DST_PORT)))
        return 0;                      /* fib_multipath_custom_hash_fl4: no outer field */
    memcpy(&src, fl->src, 4);
    memcpy(&dst, fl->dst, 4);
    if (!(fields & F_SRC_IP))
        src = 0;
    if (!(fields & F_DST_IP))
        dst = 0;
    if (fields & F_IP_PROTO)
        k[K_IP_PROTO] = fl->proto;
    if (fields & F_SRC_PORT)
        sport = __builtin_bswap16(fl->sport);
    if (fields & F_DST_PORT)
        dport = __builtin_bswap16(fl->dport);
    /* __flow_hash_consistentify: the raw (big-endian) values compared as
     * host integers */
    if (dst < src) {
        uint32_t t = src;
        src = dst;
        dst = t;
    }
    if (dport < sport) {
        uint16_t t = sport;
        sport = dport;
        dport = t;
    }
    memcpy(k + K_PORTS, &sport, 2);
    memcpy(k + K_PORTS + 2, &dport, 2);
    memcpy(k + K_ADDRS, &src, 4);
    memcpy(k + K_ADDRS + 4, &dst, 4);
    key = (uint64_t)c->seed << 32 | c->seed;
    h = (uint32_t)dp_siphash24(k, K_LEN, key, key);
    if (!h)
        h = 1;
    return (uint32_t)h >> 1;
}

/* The key used in place of the kernel's secret one (seed 0): random, drawn
 * on first use, the same for the rest of the process (and never 0). */
static uint32_t process_seed(void)
{
    static uint32_t seed;
    uint32_t v = __atomic_load_n(&seed, __ATOMIC_RELAXED), zero = 0;
    if (v)
        return v;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
        v = (uint32_t)(uintptr_t)&seed ^ 0x9e3779b9u;
    if (!v)
        v = 1;
    /* the first thread to draw wins; every caller returns that value */
    if (!__atomic_compare_exchange_n(&seed, &zero, v, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        v = zero;
    return v;
}

/* fib_select_multipath over the next hops r[0..r->mp_count): the hash
 * picks the first live next hop whose upper bound it does not exceed (with
 * fib_multipath_use_neigh, among those whose gateway's neighbour is
 * valid); a flow with a source address prefers a next hop whose own source
 * address (nh_saddr) is that address -- the first such at or after the
 * hash's pick, else the first such at all (what the running kernel does,
 * tests/test_net_fib_ecmp_diff.py). With seed 0 the key is this process's
 * random one (process_seed). ``dflt`` when no next hop qualifies. */
int dp_fib_mp_select(const struct dp_net_snap *s, const struct dp_route *r, const struct flow *fl, int dflt)
{
    uint32_t h, i, saddr;
    int pick = -1, first_match = -1;
    struct dp_mp_conf mp = s->mp;
    if (!mp.seed)
        mp.seed = process_seed();
    h = dp_fib_mp_hash4(&mp, fl);
    memcpy(&saddr, fl->src, 4);
    for (i = 0; i < r->mp_count; i++) {
        const struct dp_route *nh = &r[i];
        int match;
        if (nh->mp_upper < 0 || (s->mp.use_neigh && !dp_fib_nh_good(s, nh)))
            continue;
        match = !saddr || dp_fib_nh_saddr4(s, nh) == saddr;
        if (match && first_match < 0)
            first_match = (int)i;
        if (pick < 0 && (int64_t)h <= (int64_t)nh->mp_upper)
            pick = (int)i;
        if (pick >= 0 && match)
            return (int)i;
    }
    if (first_match >= 0)
        return first_match;
    return pick >= 0 ? pick : dflt;
}
