# The pcap transport's Source: a PcapReader played `loops` times, paced or
# flat out, pcapng interface ids mapped to ingress ifindexes.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.io.frames cimport FrameBatch, dp_batch
from dataplane.io.pcap cimport PcapReader
from dataplane.io.source cimport Source


cdef class PcapSource(Source):
    cdef readonly PcapReader reader
    cdef readonly uint64_t loops        # passes wanted; 0 = until cancelled
    cdef readonly uint64_t loops_done   # complete passes over the trace
    cdef readonly bint ended            # fill() returned DP_SOURCE_END
    # pacing: rate > 0 packets/s, or speed > 0 the trace's timing x speed
    cdef readonly double rate
    cdef readonly double speed
    cdef bint pace_started
    cdef uint64_t pace_t0               # monotonic ns of the first paced packet
    cdef uint64_t pace_sent             # packets paced so far (rate mode)
    cdef bint loop_ts_set               # pcap timing: loop_ts0 holds this pass's first timestamp
    cdef uint64_t loop_ts0
    cdef uint64_t loop_t0               # monotonic ns the pass's first packet is due
    cdef uint64_t last_due
    # paced: frames are read into `stage` and handed out in groups of the
    # packets due within DP_PACE_GROUP_NS of each other
    cdef FrameBatch stage
    cdef uint32_t stage_pos
    # pcapng interface id -> ctx->ingress_ifindex (ids past the end: id + 1)
    cdef uint32_t *ifmap
    cdef uint32_t n_ifmap
    cdef uint32_t read_pass(self, dp_batch *b) except? 0xffffffff
    cdef void map_ifaces(self, dp_batch *b, uint32_t n) noexcept nogil
    cdef uint64_t due_ns(self, dp_batch *b, uint32_t i, uint64_t index) noexcept nogil
