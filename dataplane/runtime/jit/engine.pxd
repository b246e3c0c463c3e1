# C-level API of the JIT engine, for the packet-I/O layer and other Cython
# modules: a JitProgram exposes its native entry point, its dp_env and a
# nogil batch loop (csrc/dp_jit_batch.h).
from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t

from dataplane.runtime.interp cimport HelperTable, Program, dp_env


cdef extern from "dp_jit_batch.h" nogil:
    ctypedef uint64_t (*dp_jit_fn)(dp_env *env, uint64_t r1, uint64_t r2) noexcept nogil

    cdef struct dp_jit_stats:
        uint64_t runs
        uint64_t errors
        uint64_t ns
        uint64_t batches

    enum:
        DP_JIT_VERDICT_ERROR

    void dp_jit_run_setup(dp_env *env, int checked)
    int dp_jit_run(dp_jit_fn fn, int checked, dp_env *env, uint64_t r1, uint64_t r2, uint64_t *r0)
    uint32_t dp_jit_run_batch(dp_jit_fn fn, int checked, dp_env *env, uint8_t *const *data,
                              const uint32_t *lens, uint32_t n, uint32_t *verdicts, dp_jit_stats *st)


cdef class JitProgram:
    cdef dp_env env
    cdef dp_jit_fn fn              # dp_jit_main of the loaded .so
    cdef void *handle              # dlopen handle
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
