# C view of the JIT engine's C (runtime/jit/csrc/): the batch loops that run
# a compiled program (dp_jit_batch.h), the registry tail calls and callbacks
# find compiled programs in (dp_jit_link.h) and the op names (dp_jit_ops.h).
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.includes.env cimport dp_env, dp_prog
from dataplane.includes.helpers cimport dp_xdp_buff


cdef extern from "dp_jit_batch.h" nogil:
    ctypedef uint64_t (*dp_jit_fn)(dp_env *env, uint64_t r1, uint64_t r2) noexcept nogil

    cdef struct dp_jit_stats:
        uint64_t runs
        uint64_t errors
        uint64_t ns
        uint64_t batches

    enum:
        DP_JIT_VERDICT_ERROR

    void dp_jit_run_setup(dp_env *env, int checked, const dp_prog *prog)
    int dp_jit_run(dp_jit_fn fn, int checked, const dp_prog *prog, dp_env *env, uint64_t r1, uint64_t r2,
                   uint64_t *r0)
    uint32_t dp_jit_run_batch(dp_jit_fn fn, int checked, const dp_prog *prog, dp_env *env, uint8_t *const *data,
                              const uint32_t *lens, uint32_t n, uint32_t *verdicts, dp_jit_stats *st)
    uint32_t dp_jit_run_xdp_frames(dp_jit_fn fn, int checked, const dp_prog *prog, dp_env *env,
                                   uint8_t *const *frames, const uint32_t *lens, uint32_t n, uint32_t *verdicts,
                                   dp_jit_stats *st, dp_xdp_buff *x, uint32_t ingress_ifindex)


cdef extern from "dp_jit_link.h" nogil:
    ctypedef uint64_t (*dp_jit_regs_fn)(dp_env *env, uint64_t *regs, int depth) noexcept nogil
    ctypedef uint64_t (*dp_jit_sub_fn)(dp_env *env, uint32_t start, uint64_t *regs, int depth) noexcept nogil
    void dp_jit_link_publish(const dp_prog *prog, int checked, dp_jit_regs_fn entry, dp_jit_sub_fn sub)
    dp_jit_regs_fn dp_jit_link_entry(const dp_prog *prog, int checked)
    uint64_t dp_jit_tail_continue(dp_env *env, uint64_t *regs, int depth)


cdef extern from "dp_jit_ops.h" nogil:
    const char *dp_jit_opname(unsigned op)
