# C view of the chain runner (csrc/dp_chain.h) and its owner types.
#
# Sources/sinks in other Cython modules (the pcap pump, AF_XDP later) call
# Chain.run_c on a struct dp_batch: one native call per batch.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.io.frames cimport dp_batch
from dataplane.runtime.helpers cimport dp_rt
from dataplane.runtime.interp cimport dp_env, dp_prog


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


cdef class ProgStats:
    cdef dp_prog_stats *s


cdef class Chain:
    cdef void *c                  # struct dp_chain * (opaque here: it embeds a pthread mutex)
    cdef readonly tuple programs  # BoundProgram objects, run order (kept alive)
    cdef readonly tuple proceed   # each entry's proceed-on verdict mask
    cdef readonly uint64_t revision
    cdef readonly bint in_place   # no program writes or moves packets: frames may be read-only memory
    cdef list _keep               # stats, helper tables, runners the native side points into
    cdef list _entries            # [(BoundProgram, ProgStats)] as given (for_cpu clones from them)
    cdef ProgStats _totals
    cdef readonly int cpu         # the CPU every entry runs as (-1: each program's runner CPU)
    cdef dict _per_cpu            # for_cpu clones, by CPU
    # One batch; returns packets run. Takes the chain's mutex, drops the GIL.
    cdef uint32_t run_c(self, dp_batch *b, dp_chain_result *res) except? 0xffffffff
    # The same without the GIL: 0xffffffff when the scratch could not grow (nothing run).
    cdef uint32_t run_nogil(self, dp_batch *b, dp_chain_result *res, const volatile int *cancel=*) noexcept nogil


cdef class ChainSlot:
    # The published chain of a hook: one reference, replaced whole (under
    # the GIL, so a reader sees the old or the new chain, never a mix).
    # Never None: native readers use _chain directly.
    cdef Chain _chain
    # bumped (atomically, after the swap) at every publication: a pump
    # running without the GIL compares it per batch and takes the GIL to
    # read _chain only when it moved
    cdef uint64_t gen
