# C view of the network namespace model (net/csrc/net_impl.h, which
# includes the runtime-facing ABI dp_net.h): devices, addresses, routes,
# rules, neighbours and sockets, and the snapshot they are published in.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t


cdef extern from "net_impl.h" nogil:
    cdef struct dp_net
    struct dp_bpf_fib_lookup:
        uint8_t family
    struct dp_net_ops:
        int64_t (*fib_lookup)(dp_net *net, dp_bpf_fib_lookup *p, uint32_t flags, int check_mtu)
        int (*dev_mtu)(dp_net *net, uint32_t ifindex, uint32_t *mtu, uint32_t *hh)
        const dp_bpf_sock *(*sk_lookup)(dp_net *net, const void *tuple, uint32_t len, uint8_t proto,
                                        uint32_t dif, int full)
        void (*sk_release)(dp_net *net, const dp_bpf_sock *sk)
    struct dp_net:
        const dp_net_ops *ops

    struct dp_netdev:
        uint32_t ifindex
        uint32_t flags
        uint32_t mtu
        uint32_t mtu6
        uint16_t hard_header_len
        uint8_t mac[6]
        uint8_t has_in4
        uint8_t has_in6
        uint8_t fwd4
        uint8_t fwd6
        uint8_t ignore_linkdown4
        uint8_t ignore_linkdown6
        uint8_t route_localnet

    struct dp_addr4:
        uint32_t ifindex
        uint32_t local
        uint8_t plen
        uint8_t scope
        uint8_t flags

    struct dp_addr6:
        uint32_t ifindex
        uint8_t addr[16]
        uint8_t plen
        uint8_t scope
        uint16_t flags

    struct dp_route:
        uint8_t family
        uint8_t plen
        uint8_t type
        uint8_t scope
        uint8_t dscp
        uint8_t gw_family
        uint8_t mtu_locked
        uint8_t has_prefsrc
        uint32_t table
        uint32_t priority
        uint32_t oif
        uint32_t nh_flags
        uint32_t mtu
        int32_t mp_upper
        uint16_t mp_count
        uint16_t mp_index
        uint8_t dst[16]
        uint8_t gw[16]
        uint8_t prefsrc[16]

    struct dp_mp_conf:
        uint8_t policy
        uint8_t use_neigh
        uint32_t seed
        uint32_t fields

    struct dp_rule:
        uint8_t family
        uint8_t action
        uint8_t src_len
        uint8_t dst_len
        uint8_t dscp
        uint8_t ip_proto
        uint8_t l3mdev
        uint32_t priority
        uint32_t table
        uint32_t flags
        uint32_t target
        uint32_t iif
        uint32_t oif
        uint32_t mark
        uint32_t mark_mask
        int32_t suppress_prefixlen
        uint16_t sport_lo
        uint16_t sport_hi
        uint16_t dport_lo
        uint16_t dport_hi
        uint32_t uid_lo
        uint32_t uid_hi
        uint8_t src[16]
        uint8_t dst[16]

    struct dp_neigh:
        uint32_t ifindex
        uint8_t family
        uint8_t lladdr[6]
        uint16_t state
        uint8_t addr[16]

    struct dp_bpf_sock:
        uint32_t bound_dev_if
        uint32_t family
        uint32_t type
        uint32_t protocol
        uint32_t mark
        uint32_t priority
        uint32_t src_ip4
        uint32_t src_ip6[4]
        uint32_t src_port
        uint16_t dst_port
        uint32_t dst_ip4
        uint32_t dst_ip6[4]
        uint32_t state
        int32_t rx_queue_mapping

    struct dp_net_snap:
        uint8_t tcp_syncookies

    struct dp_sock:
        dp_bpf_sock pub
        uint8_t v6only
        uint8_t has_v4
        uint16_t lport
        uint16_t rport
        uint8_t laddr4[4]
        uint8_t raddr4[4]
        uint8_t laddr6[16]
        uint8_t raddr6[16]
        uint32_t listener
        uint32_t max_ack_backlog
        uint32_t ack_backlog
        uint32_t nreq

    struct dp_net_impl:
        dp_net pub

    dp_net_snap *dp_net_snap_build(const dp_netdev *devs, uint32_t ndev, const dp_addr4 *a4, uint32_t na4,
                                   const dp_addr6 *a6, uint32_t na6, const dp_route *routes, uint32_t nroute,
                                   const dp_rule *rules, uint32_t nrule, const dp_neigh *neigh, uint32_t nneigh,
                                   uint8_t fwd_use_pmtu, int *err, char *msg, uint32_t msglen)
    void dp_net_snap_free(dp_net_snap *s)
    int dp_net_snap_set_socks(dp_net_snap *s, const dp_sock *socks, uint32_t n, char *msg, uint32_t msglen)
    void dp_net_snap_set_mp(dp_net_snap *s, const dp_mp_conf *mp)
    int dp_net_init(dp_net_impl *n)
    void dp_net_destroy(dp_net_impl *n)
    void dp_net_publish(dp_net_impl *n, dp_net_snap *snap)
