# The generic pump: any Source -> a hook's chain -> Sinks by verdict
# (contract in io/source.pxd). One Pump per worker.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.hooks.chain cimport ChainSlot
from dataplane.io.frames cimport FrameBatch, dp_batch
from dataplane.io.source cimport Source


cdef class Pump:
    cdef readonly Source source
    cdef readonly ChainSlot slot
    cdef readonly FrameBatch batch
    cdef readonly int cpu               # -1: the published chain as is; else its for_cpu clone
    cdef readonly bint in_place         # ask the source for DP_BATCH_IN_PLACE fills when the chain allows
    cdef readonly uint64_t batches_in_place   # batches the source filled in place
    cdef object _published              # the published chain the clone was made from
    cdef object _mine                   # (Chain) its clone for self.cpu
    cdef readonly tuple sinks           # the distinct Sink objects, in verdict order of first use
    cdef int sink_of[5]                 # verdict -> index in sinks, -1: dropped after counting
    cdef uint32_t *idx                  # scratch: len(sinks) x batch capacity frame indexes
    cdef readonly uint64_t packets      # packets run through the chain
    cdef readonly uint64_t bytes        # their bytes, as delivered
    cdef readonly uint64_t batches
    cdef readonly uint64_t revision     # chain revision of the latest batch
    cdef readonly uint64_t revisions_seen
    cdef readonly bint done             # the source ended (sinks flushed)
    cdef uint64_t vpackets[5]
    cdef uint64_t vbytes[5]
    cdef uint64_t vsent[5]              # frames handed to a sink, per verdict
    cdef uint64_t vtaken[5]             # of those, frames the sink took
    cdef void _count_taken(self, dp_batch *b, int s, uint32_t took) noexcept
