# C-level API of the JIT engine, for the packet-I/O layer and other Cython
# modules: a JitProgram exposes its native entry point, its dp_env and a
# nogil batch loop (csrc/dp_jit_batch.h).
from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t

from dataplane.runtime.interp cimport HelperTable, Interpreter, Program, dp_env, dp_prog
from dataplane.runtime.helpers cimport dp_xdp_buff


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


# The native side of one compiled program: loaded .so, entry points, and its
# registration for tail calls / callbacks (dp_jit_link.h).
cdef class _Native:
    cdef void *handle
    cdef dp_jit_fn fn
    cdef dp_jit_regs_fn entry      # published on program.prog while alive
    cdef dp_jit_sub_fn sub
    cdef bint linked
    cdef readonly str path
    cdef readonly double compile_seconds
    cdef readonly bint cache_hit
    cdef readonly bint checked
    cdef readonly object facts     # codegen.Facts the code was generated with
    cdef Program program


cdef class JitProgram:
    cdef dp_env env
    cdef dp_jit_fn fn              # dp_jit_main of the loaded .so
    cdef _Native native            # owns the dlopen handle and the link registration
    cdef readonly Program program  # decoded/validated bytecode (same decoder as the interpreter)
    cdef readonly HelperTable helpers
    cdef readonly HelperTable kfuncs
    cdef readonly bint checked
    cdef readonly str path         # the cached .so
    cdef readonly str opt
    cdef readonly double compile_seconds
    cdef readonly bint cache_hit
    cdef dp_jit_stats stats_c
    cdef list _pinned
    cdef void sync_tables(self) noexcept
    # nogil batch entry: verdicts[i] for data[i]/lens[i]; returns the number of faults
    cdef uint32_t run_batch_c(self, uint8_t *const *data, const uint32_t *lens, uint32_t n,
                              uint32_t *verdicts) noexcept nogil
    cdef _raise(self)


# The Interpreter interface (env, run_c) with JIT-compiled code behind it,
# so the helpers' Runner (and everything built on Interpreter) runs it
# unchanged. Build with JitInterpreter.create(program, helpers, kfuncs).
cdef class JitInterpreter(Interpreter):
    cdef dp_jit_fn fn
    cdef _Native native
    cdef readonly bint checked
    cdef dp_jit_stats stats_c
    cdef dp_xdp_buff xdp
    cdef int run_c(self, uint64_t r1, uint64_t r2, uint64_t *r0) except -1


# dp_jit_run of this module: the compiled code's tail-call hook is this
# module's dp_jit_tail_continue, which reads the run's mode from this
# module's thread-local (dp_jit_link.h). The hooks' chain runner cimports it
# (a module that cannot find it fails at import). fn is a dp_jit_fn.
cdef int jit_run_nogil(void *fn, int checked, const dp_prog *prog, dp_env *env, uint64_t r1, uint64_t r2,
                       uint64_t *r0) noexcept nogil
