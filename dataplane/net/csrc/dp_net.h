/*
 * dp_net.h - the C ABI of the network namespace a program runs in.
 *
 * The kernel's routing, neighbour and device helpers (bpf_fib_lookup,
 * bpf_check_mtu) act on the netns of the receiving device. The dataplane
 * runs in user space, so it keeps a model of one: devices, addresses,
 * routes, rules and neighbours (dataplane/net), learnt from a real netns
 * over netlink or set by the control plane. Helpers in the runtime reach
 * it only through this header: a struct dp_net with an ops table, so the
 * runtime does not link the routing code (as with dp_maps.h).
 *
 * The kernel-facing structs below have the uapi layout (include/uapi/
 * linux/bpf.h): programs pass them by pointer and read the results.
 */
#ifndef DP_NET_H
#define DP_NET_H

#include <stdint.h>

/* struct bpf_fib_lookup, 64 bytes. Unions are flattened: the offsets are
 * what programs read and write. */
struct dp_bpf_fib_lookup {
    uint8_t family;          /* in: AF_INET/AF_INET6; out: family of the next hop */
    uint8_t l4_protocol;
    uint16_t sport, dport;   /* __be16 */
    uint16_t tot_len;        /* in: L3 length to check against the MTU; out: mtu_result */
    uint32_t ifindex;        /* in: ingress (or with OUTPUT egress) device; out: egress device */
    uint32_t tos;            /* in: tos (u8, AF_INET) or flowinfo (__be32, AF_INET6); out: rt_metric */
    uint32_t src[4];         /* ipv4_src / ipv6_src, network order */
    uint32_t dst[4];         /* in: destination; out: the gateway when the route has one */
    uint16_t h_vlan_proto;   /* out: 0 (union with tbid, the table id input) */
    uint16_t h_vlan_TCI;
    uint8_t smac[6];         /* out (union with mark, the fwmark input, at the same offset) */
    uint8_t dmac[6];
};

#define DP_FIB_PARAMS_SIZE 64u

/* BPF_FIB_LOOKUP_* flags */
#define DP_FIB_LOOKUP_DIRECT (1u << 0)
#define DP_FIB_LOOKUP_OUTPUT (1u << 1)
#define DP_FIB_LOOKUP_SKIP_NEIGH (1u << 2)
#define DP_FIB_LOOKUP_TBID (1u << 3)
#define DP_FIB_LOOKUP_SRC (1u << 4)
#define DP_FIB_LOOKUP_MARK (1u << 5)
#define DP_FIB_LOOKUP_MASK 0x3fu

/* BPF_FIB_LKUP_RET_* */
enum {
    DP_FIB_RET_SUCCESS,
    DP_FIB_RET_BLACKHOLE,
    DP_FIB_RET_UNREACHABLE,
    DP_FIB_RET_PROHIBIT,
    DP_FIB_RET_NOT_FWDED,
    DP_FIB_RET_FWD_DISABLED,
    DP_FIB_RET_UNSUPP_LWT,
    DP_FIB_RET_NO_NEIGH,
    DP_FIB_RET_FRAG_NEEDED,
    DP_FIB_RET_NO_SRC_ADDR,
};

/* struct bpf_sock, 80 bytes: what a program reads through the pointer a
 * socket lookup returns (the kernel converts these loads to struct sock
 * fields; the model stores the uapi layout, so loads are plain). */
struct dp_bpf_sock {
    uint32_t bound_dev_if;
    uint32_t family;
    uint32_t type;
    uint32_t protocol;
    uint32_t mark;
    uint32_t priority;
    uint32_t src_ip4;        /* network order */
    uint32_t src_ip6[4];
    uint32_t src_port;       /* host order */
    uint16_t dst_port;       /* network order */
    uint16_t pad;
    uint32_t dst_ip4;
    uint32_t dst_ip6[4];
    uint32_t state;          /* TCP_* (BPF_TCP_*) */
    int32_t rx_queue_mapping;
};

#define DP_BPF_SOCK_SIZE 80u

struct dp_net;

struct dp_sk_syn {
    uint8_t syncookies;        /* net.ipv4.tcp_syncookies */
    uint8_t v6only;            /* ipv6_only_sock */
    uint8_t reqsk_full;        /* inet_csk_reqsk_queue_is_full */
    uint8_t acceptq_full;      /* sk_acceptq_is_full */
    uint8_t recent_overflow;   /* !tcp_synq_no_recent_overflow */
};

struct dp_net_ops {
    /* bpf_ipv4_fib_lookup / bpf_ipv6_fib_lookup (by p->family, which the
     * caller checked): a DP_FIB_RET_* code, or -ENODEV. */
    int64_t (*fib_lookup)(struct dp_net *net, struct dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu);
    /* A device's MTU and hard_header_len: 0, or -ENODEV. */
    int (*dev_mtu)(struct dp_net *net, uint32_t ifindex, uint32_t *mtu, uint32_t *hard_header_len);
    /* bpf_sk_lookup_tcp/udp (full != 0) and bpf_skc_lookup_tcp: the socket
     * a packet with this tuple (struct bpf_sock_tuple, 12 or 36 bytes;
     * saddr/sport are the packet's source) arriving on device dif would
     * reach, or NULL. A socket returned holds a reference on the model
     * until sk_release. */
    const struct dp_bpf_sock *(*sk_lookup)(struct dp_net *net, const void *tuple, uint32_t len, uint8_t proto,
                                           uint32_t dif, int full);
    void (*sk_release)(struct dp_net *net, const struct dp_bpf_sock *sk);
    /* what bpf_tcp_gen_syncookie / bpf_tcp_check_syncookie read of a held
     * socket and its namespace; synq_overflow: tcp_synq_overflow(sk) first */
    void (*sk_syn)(struct dp_net *net, const struct dp_bpf_sock *sk, struct dp_sk_syn *out, int synq_overflow);
};

/* The model's public head; dataplane/net owns the rest (snapshots, lock). */
struct dp_net {
    const struct dp_net_ops *ops;
};

#endif /* DP_NET_H */
