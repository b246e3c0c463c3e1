# C-level API of the JIT engine, for the packet-I/O layer and other Cython
# modules: a JitProgram exposes its native entry point, its dp_env and a
# nogil batch loop (csrc/dp_jit_batch.h; the C view: dataplane/includes/jit.pxd).
from libc.stdint cimport int32_t, uint8_t, uint32_t, uint64_t

from dataplane.runtime.interp cimport HelperTable, Interpreter, Program, dp_env, dp_prog
from dataplane.runtime.helpers cimport dp_xdp_buff

from dataplane.includes.jit cimport *


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
