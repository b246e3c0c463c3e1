# The generic pump: any Source -> a hook's chain -> Sinks by verdict
# (contract in io/source.pxd). One Pump per worker.
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint32_t, uint64_t

from dataplane.hooks.chain cimport Chain, ChainSlot
from dataplane.io.frames cimport FrameBatch, dp_batch
from dataplane.io.source cimport Source


# Where the batch in flight is (a native call that needs the GIL hands the
# stage it stopped at to the GIL side, which makes that one call and goes on).
cdef enum:
    ST_FILL = 0       # next: take the chain, fill the batch
    ST_RUN = 1        # filled: run the chain, count, bucket by sink
    ST_PUT = 2        # hand sink next_sink its frames (then the ones after it)
    ST_RELEASE = 3    # give the frames back to the source
    ST_DONE = 4       # (gil_step) released: the batch is counted


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
    cdef int nsinks
    cdef PyObject *sinkp[5]             # sinks[i], borrowed, for the GIL-free loop
    # the batch in flight (see ST_*): its chain, the per-sink/per-verdict counts of its frames
    cdef int stage
    cdef Chain chain
    cdef uint64_t gen                   # slot.gen when the chain was taken
    cdef uint32_t next_sink
    cdef uint32_t cnt[5]
    cdef uint32_t vc[5]
    cdef bint filled                    # gil_step's fill brought a batch
    cdef readonly uint64_t gil_steps    # calls loop() left to the GIL side (source/sink GIL calls)
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
    # where the pump's time goes (CLOCK_MONOTONIC ns, GIL-free stages only; a
    # preempted thread's wait counts where it happened): the source's fills,
    # the chain (with verdict bucketing), the sinks' puts, the releases
    cdef readonly uint64_t fill_ns
    cdef readonly uint64_t run_ns
    cdef readonly uint64_t put_ns
    cdef readonly uint64_t release_ns
    cdef Chain _take_chain(self)
    cdef int loop(self, Chain chain, uint64_t *k, uint64_t max_batches, uint64_t wait_ns) noexcept nogil
    cdef int gil_step(self, Chain chain, uint64_t wait_ns) except -1
    cdef bint filled_with(self, int n) noexcept nogil
    cdef bint run_chain(self, Chain chain, dp_batch *b) noexcept nogil
    cdef void count_put(self, dp_batch *b, uint32_t s, int64_t took) noexcept nogil
    cdef void _count_taken(self, dp_batch *b, int s, uint32_t took) noexcept nogil
