# C declarations of the kernel helpers (csrc/dp_helpers.h) and the Runner
# that executes XDP / socket-filter programs with them.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.maps.core cimport dp_map
from dataplane.runtime.interp cimport dp_env, dp_helper_fn, dp_ctx_load_fn, Interpreter


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


# The one dp_xdp_ctx_load (helpers_xdp.c is linked into this module only):
# bpf_xdp_adjust_*, the XDP dynptr kfuncs and bpf_xdp_event_output know an
# XDP ctx by env->ctx_load == dp_xdp_ctx_load, so every runner that sets up
# an XDP env (the JIT's frame loop, the hooks' chain) takes it from here.
# Cross-module cimport: a module that cannot find it fails at import.
cdef dp_ctx_load_fn xdp_ctx_load() noexcept nogil


cdef class Runner:
    cdef dp_rt rt
    cdef dp_xdp_buff xdp
    cdef dp_skb skb
    cdef uint8_t *frame          # DP_XDP_FRAME_SIZE bytes, page aligned
    cdef uint8_t *frag_pages     # DP_XDP_MAX_FRAGS pages for multi-buffer test runs (lazily)
    cdef dp_xdp_frags frags
    cdef list _maps              # keep the Map objects alive
    cdef object _ct              # conntrack kfunc context (dataplane.kfuncs CtContext) kept alive
    cdef object _net             # network namespace model (dataplane.net.core.Net) kept alive
    cdef readonly uint32_t ingress_ifindex
    cdef readonly uint32_t rx_queue_index
    cdef _prepare(self, Interpreter interp)
    cdef _finish(self, Interpreter interp)
