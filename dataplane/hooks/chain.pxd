# The chain runner's owner types; its C view (csrc/dp_chain.h) is
# dataplane/includes/chain.pxd, cimported from here.
#
# Sources/sinks in other Cython modules (the pcap pump, AF_XDP later) call
# Chain.run_c on a struct dp_batch: one native call per batch.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.io.frames cimport dp_batch
from dataplane.runtime.helpers cimport dp_rt
from dataplane.runtime.interp cimport dp_env, dp_prog

from dataplane.includes.chain cimport *


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
