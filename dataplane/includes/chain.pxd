# C view of the chain runner (hooks/csrc/dp_chain.h): one native call runs a
# hook's programs over a batch, with per-program counters.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.includes.env cimport dp_ctx_load_fn, dp_env, dp_prog
from dataplane.includes.frame cimport dp_batch
from dataplane.includes.helpers cimport dp_rt
from dataplane.includes.system cimport pthread_mutex_t


cdef extern from "dp_chain.h" nogil:
    enum:
        DP_NVERDICTS
        DP_ENGINE_INTERP
        DP_ENGINE_JIT

    cdef struct dp_prog_stats:
        uint64_t packets[5]
        uint64_t bytes[5]
        uint64_t runs
        uint64_t run_ns
        uint64_t errors
        uint64_t invalid
        uint64_t budget

    ctypedef int (*dp_chain_jit_run_fn)(void *fn, int checked, const dp_prog *prog, dp_env *env,
                                        uint64_t r1, uint64_t r2, uint64_t *r0) noexcept nogil

    cdef struct dp_chain_entry:
        int engine
        int checked
        const dp_prog *prog
        void *jit_fn
        dp_chain_jit_run_fn jit_run
        dp_env env
        dp_rt rt
        char last_error[256]
        dp_prog_stats *stats
        uint32_t proceed

    cdef struct dp_chain_result:
        uint64_t packets[5]
        uint64_t bytes[5]
        uint64_t in_bytes

    # a frame the chain left without a verdict (the source was cancelled mid-batch)
    uint32_t DP_FRAME_UNDECIDED

    cdef struct dp_chain:
        uint32_t n
        dp_chain_entry *e
        uint32_t ingress_ifindex
        dp_ctx_load_fn xdp_ctx_load
        dp_prog_stats *totals
        uint32_t *live
        uint32_t live_cap
        void (*set_cpu)(uint32_t cpu) noexcept nogil
        pthread_mutex_t lock
    uint32_t dp_chain_run(dp_chain *c, dp_batch *b, dp_chain_result *res, const volatile int *cancel)
    size_t dp_chain_scratch_size(uint32_t n, uint32_t cap)
