/*
 * net_impl.h - the network namespace model behind struct dp_net.
 *
 * The model is an immutable snapshot (struct dp_net_snap) built in one go
 * from flat arrays (dp_net_snap_build) and published under a rwlock: the
 * helpers read the current snapshot under the read side for the length of
 * one lookup, the control plane swaps in a new one under the write side and
 * frees the old one, which no reader can still hold. Lookups never allocate.
 *
 * Addresses are stored in network byte order in 16 bytes (IPv4 in the
 * first 4), as the kernel's flowi and bpf_fib_lookup hold them.
 */
#ifndef DP_NET_IMPL_H
#define DP_NET_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "dp_net.h"

#define DP_AF_INET 2
#define DP_AF_INET6 10

/* limits: every array a client fills is bounded */
#define DP_NET_MAX_DEVS 4096u
#define DP_NET_MAX_ADDRS 65536u
#define DP_NET_MAX_ROUTES (1u << 20)
#define DP_NET_MAX_RULES 4096u
#define DP_NET_MAX_NEIGH (1u << 20)
#define DP_NET_MAX_SOCKS (1u << 20)

/* rtm_type (RTN_*) */
enum { DP_RTN_UNSPEC, DP_RTN_UNICAST, DP_RTN_LOCAL, DP_RTN_BROADCAST, DP_RTN_ANYCAST, DP_RTN_MULTICAST,
       DP_RTN_BLACKHOLE, DP_RTN_UNREACHABLE, DP_RTN_PROHIBIT, DP_RTN_THROW, DP_RTN_NAT, DP_RTN_XRESOLVE };
/* fib rule actions (FR_ACT_*) */
enum { DP_FR_ACT_UNSPEC, DP_FR_ACT_TO_TBL, DP_FR_ACT_GOTO, DP_FR_ACT_NOP, DP_FR_ACT_RES3, DP_FR_ACT_RES4,
       DP_FR_ACT_BLACKHOLE, DP_FR_ACT_UNREACHABLE, DP_FR_ACT_PROHIBIT };

#define DP_RT_TABLE_DEFAULT 253u
#define DP_RT_TABLE_MAIN 254u
#define DP_RT_TABLE_LOCAL 255u

/* next-hop flags (RTNH_F_*) */
#define DP_RTNH_F_DEAD 1u
#define DP_RTNH_F_LINKDOWN 16u
/* fib rule flags */
#define DP_FIB_RULE_INVERT 2u
/* neighbour states */
#define DP_NUD_VALID (0x80u | 0x40u | 0x02u | 0x10u | 0x04u | 0x08u)
/* device flags (IFF_*) */
#define DP_IFF_UP 1u
#define DP_IFF_LOOPBACK 8u
#define DP_IFF_POINTOPOINT 16u
/* IPv4 address flags */
#define DP_IFA_F_SECONDARY 1u

struct dp_netdev {
    uint32_t ifindex;
    uint32_t flags;            /* IFF_* */
    uint32_t mtu;
    uint32_t mtu6;             /* idev->cnf.mtu6 */
    uint16_t hard_header_len;
    uint8_t mac[6];
    uint8_t has_in4, has_in6;  /* in_device / inet6_dev exist */
    uint8_t fwd4, fwd6;        /* per-device forwarding */
    uint8_t ignore_linkdown4, ignore_linkdown6;
    uint8_t route_localnet;
    uint8_t pad;
    uint32_t addr4_first, addr4_count;   /* into snap->addr4, in the kernel's ifa_list order */
    uint32_t addr6_first, addr6_count;   /* into snap->addr6 */
};

struct dp_addr4 {
    uint32_t ifindex;
    uint32_t local;            /* network order */
    uint8_t plen, scope, flags, pad;
};

struct dp_addr6 {
    uint32_t ifindex;
    uint8_t addr[16];
    uint8_t plen, scope;       /* scope as rtm (RT_SCOPE_*: 0 global, 253 link, 254 host) */
    uint16_t flags;            /* IFA_F_* (tentative 0x40, deprecated 0x20, ...) */
};

struct dp_route {
    uint8_t family, plen, type, scope;
    uint8_t dscp;              /* rtm_tos >> 2 */
    uint8_t gw_family;         /* 0: directly connected */
    uint8_t mtu_locked;
    uint8_t has_prefsrc;
    uint32_t table, priority, oif, nh_flags, mtu;
    uint32_t order;            /* position in the kernel's dump (ties keep it) */
    /* a multipath route is mp_count > 1 consecutive entries, one per next
     * hop (oif, gw, nh_flags), mp_index 0..mp_count-1; mp_upper is that next
     * hop's fib_nh_upper_bound (fib_rebalance; -1 for a dead one) */
    int32_t mp_upper;
    uint16_t mp_count, mp_index;
    uint8_t dst[16], gw[16], prefsrc[16];
};

/* net.ipv4.fib_multipath_hash_policy / _seed (0: the kernel's own random
 * seed) / _fields, fib_multipath_use_neigh */
struct dp_mp_conf {
    uint8_t policy, use_neigh;
    uint16_t pad;
    uint32_t seed, fields;
};

struct dp_rule {
    uint8_t family, action, src_len, dst_len;
    uint8_t dscp, ip_proto, l3mdev, pad;
    uint32_t priority, table, flags, target;      /* target: goto priority */
    uint32_t iif, oif;                            /* ifindex, 0 = any; ~0u = a name with no device */
    uint32_t mark, mark_mask;
    int32_t suppress_prefixlen;                   /* -1: none */
    uint16_t sport_lo, sport_hi, dport_lo, dport_hi;  /* host order; 0/0: any */
    uint32_t uid_lo, uid_hi;
    uint8_t src[16], dst[16];
};

struct dp_neigh {
    uint32_t ifindex;
    uint8_t family;
    uint8_t lladdr[6];
    uint8_t pad;
    uint16_t state;            /* NUD_* */
    uint16_t pad2;
    uint8_t addr[16];
};

struct dp_net_snap;

/* A socket of the namespace: the struct bpf_sock a program reads first
 * (a lookup returns &pub), then what the lookup matches on. */
struct dp_sock {
    struct dp_bpf_sock pub;
    struct dp_net_snap *snap;  /* the snapshot a held socket keeps alive */
    uint8_t v6only;
    uint8_t has_v4;            /* AF_INET, or AF_INET6 with a v4-mapped/any address that takes IPv4 */
    uint16_t lport, rport;     /* host order; rport 0: not connected */
    uint8_t laddr4[4], raddr4[4];
    uint8_t laddr6[16], raddr6[16];
    uint32_t listener;         /* a request socket's listener (index), else ~0u */
    /* a listener's queues as learnt (inet_csk_reqsk_queue_is_full, sk_acceptq_is_full) */
    uint32_t max_ack_backlog, ack_backlog, nreq;
    /* tcp_synq_overflow's stamp (CLOCK_MONOTONIC ns, 0: never): the one
     * field the helpers write, as the kernel's listener keeps it */
    uint64_t synq_overflow_ns;
};

/* One (family, table) of routes: prefix lengths present, longest first. */
struct dp_rtab {
    uint8_t family, nplens;
    uint8_t plens[129];
    uint32_t table;
};

/* open-addressing hash slot: route groups by (table index, plen, prefix) and neighbours */
struct dp_hslot {
    uint64_t key;              /* hash of the key, 0 = empty */
    uint32_t first, count;     /* route group [first, first+count) / neighbour index */
};

struct dp_net_snap {
    uint32_t ndev, naddr4, naddr6, nroute, nrule4, nrule6, nneigh, ntab;
    struct dp_netdev *devs;    /* sorted by ifindex */
    struct dp_addr4 *addr4;
    struct dp_addr6 *addr6;
    struct dp_route *routes;   /* sorted: family, table, plen desc, dst, alias order */
    struct dp_rule *rules4, *rules6;   /* by priority, then given order */
    struct dp_neigh *neigh;
    struct dp_rtab *tabs;
    struct dp_hslot *rhash, *nhash;
    uint32_t rhash_mask, nhash_mask;
    uint8_t custom_rules4, custom_rules6;  /* net->ipv4/6.fib_has_custom_rules */
    uint8_t fwd_use_pmtu;                  /* net.ipv4.ip_forward_use_pmtu */
    struct dp_mp_conf mp;                  /* the IPv4 multipath hash (mphash.c) */
    uint8_t tcp_syncookies;                /* net.ipv4.tcp_syncookies */
    uint32_t nsock;
    struct dp_sock *socks;
    struct dp_hslot *shash;    /* (protocol, local port) -> bucket in sidx */
    uint32_t *sidx;            /* socket indexes grouped by bucket */
    uint32_t shash_mask;
    uint32_t refs;             /* 1 while published + one per socket a program holds */
};

struct dp_net_impl {
    struct dp_net pub;         /* first: a struct dp_net * is a struct dp_net_impl * */
    pthread_rwlock_t lock;
    struct dp_net_snap *snap;
};

/* Build a snapshot from flat arrays (copied; the caller keeps its own).
 * Returns NULL with *err set (-EINVAL with msg, -ENOMEM). */
struct dp_net_snap *dp_net_snap_build(const struct dp_netdev *devs, uint32_t ndev,
                                      const struct dp_addr4 *a4, uint32_t na4,
                                      const struct dp_addr6 *a6, uint32_t na6,
                                      const struct dp_route *routes, uint32_t nroute,
                                      const struct dp_rule *rules, uint32_t nrule,
                                      const struct dp_neigh *neigh, uint32_t nneigh,
                                      uint8_t fwd_use_pmtu, int *err, char *msg, uint32_t msglen);
void dp_net_snap_free(struct dp_net_snap *s);
/* Index sockets into a snapshot (copied). 0, or -errno with msg. */
int dp_net_snap_set_socks(struct dp_net_snap *s, const struct dp_sock *socks, uint32_t n, char *msg, uint32_t msglen);
/* The multipath hash configuration of a snapshot not yet published */
void dp_net_snap_set_mp(struct dp_net_snap *s, const struct dp_mp_conf *mp);
/* Drop one reference; the last frees the snapshot. */
void dp_net_snap_put(struct dp_net_snap *s);

/* lookups on a snapshot (net_snap.c) */
const struct dp_netdev *dp_snap_dev(const struct dp_net_snap *s, uint32_t ifindex);
const struct dp_neigh *dp_snap_neigh(const struct dp_net_snap *s, uint32_t ifindex, uint8_t family,
                                     const uint8_t *addr);
/* the route groups of (tab, plen, prefix): first index and count, or count 0 */
uint32_t dp_snap_group(const struct dp_net_snap *s, uint32_t tab, uint8_t plen, const uint8_t *prefix,
                       uint32_t *first);
int dp_snap_tab(const struct dp_net_snap *s, uint8_t family, uint32_t table);
void dp_mask_prefix(uint8_t *out, const uint8_t *addr, uint8_t plen, uint8_t alen);

/* the model (net_core.c) */
int dp_net_init(struct dp_net_impl *n);
void dp_net_destroy(struct dp_net_impl *n);
/* Publish snap (owned from now on) and free the previous one. */
void dp_net_publish(struct dp_net_impl *n, struct dp_net_snap *snap);

uint32_t dp_snap_sock_bucket(const struct dp_net_snap *s, uint8_t proto, uint16_t lport, const uint32_t **idx);

/* socket lookups (sock.c), on a snapshot the caller holds */
const struct dp_sock *dp_sk_lookup_snap(const struct dp_net_snap *s, const void *tuple, uint32_t len, uint8_t proto,
                                        uint32_t dif, int full);

/* routing (fib.c), on a snapshot the caller holds */
int64_t dp_fib_lookup_snap(const struct dp_net_snap *s, struct dp_bpf_fib_lookup *p, uint32_t flags,
                           int check_mtu);

#endif /* DP_NET_IMPL_H */
