# C view of the kernel helpers (runtime/csrc/dp_helpers.h: XDP and skb
# buffers, struct dp_rt -- the per-thread helper state --, the helper and
# kfunc tables, the XDP/skb ctx loads) and the SYN cookie helpers' control
# side (dp_syncookie.h).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from dataplane.includes.env cimport dp_ctx_load_fn, dp_env, dp_helper_fn
from dataplane.includes.maps cimport dp_map


cdef extern from "dp_helpers.h" nogil:
    enum:
        DP_XDP_HEADROOM
        DP_XDP_TAILROOM
        DP_XDP_FRAME_SIZE
        DP_XDP_FRAME_HDR
        DP_REDIRECT_NONE
        DP_REDIRECT_IFINDEX
        DP_REDIRECT_MAP
        DP_XDP_MAX_FRAGS
        DP_PAGE_SIZE

    const unsigned long long DP_CALLBACK_TAG

    struct dp_xdp_frag:
        uint8_t *page
        uint32_t off
        uint32_t len

    struct dp_xdp_frags:
        uint32_t nr_frags
        uint32_t size
        uint32_t frag_size
        dp_xdp_frag frags[17]

    struct dp_xdp_buff:
        uint8_t *data
        uint8_t *data_end
        uint8_t *data_meta
        uint8_t *hard_start
        uint32_t frame_sz
        uint32_t ingress_ifindex
        uint32_t rx_queue_index
        uint32_t egress_ifindex
        dp_xdp_frags *frags

    struct dp_skb:
        uint8_t *data
        uint32_t len
        uint32_t protocol
        uint32_t ifindex
        uint32_t pkt_type
        uint32_t ingress_ifindex
        uint32_t cb[5]

    struct dp_sink:
        uint8_t *buf
        uint32_t cap
        uint32_t len
        uint64_t dropped

    struct dp_rt:
        dp_map **maps
        uint32_t nmaps
        dp_map **perf_maps
        uint32_t nperf
        uint32_t cpu
        uint64_t prandom
        uint32_t redirect_kind
        uint32_t redirect_index
        uint64_t redirect_flags
        dp_map *redirect_map
        dp_sink trace
        dp_sink perf
        void *lock_held
        void *ct
        void *net
        uint32_t nsk_held

    dp_helper_fn dp_kernel_helper(uint32_t id)
    void dp_rt_put_socks(dp_rt *rt)
    dp_helper_fn dp_dynptr_kfunc(uint32_t id)
    dp_helper_fn dp_common_kfunc(uint32_t id)
    uint32_t dp_jiffies_hz
    int dp_xdp_ctx_load(dp_env *env, uint32_t off, uint32_t size, uint64_t *out)
    int dp_skb_ctx_load(dp_env *env, uint32_t off, uint32_t size, uint64_t *out)
    uint32_t dp_csum_partial(const uint8_t *p, uint64_t len, uint32_t seed)
    unsigned short dp_cpu_numa_node[1024]   # bpf_get_numa_node_id: CPU -> node (helpers.set_numa_nodes)


cdef extern from "dp_syncookie.h" nogil:
    void dp_syncookie_set_secret(const uint8_t *key64)
    int64_t dp_syncookie_minutes_offset
    uint64_t dp_siphash(const uint8_t *data, size_t len, const uint64_t *key)
