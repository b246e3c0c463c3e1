# The pcap replay loop: read a batch, run the hook's chain, write by verdict.
from libc.stdint cimport uint32_t, uint64_t


cdef class PumpState:
    cdef readonly uint64_t packets      # packets run through the chain
    cdef readonly uint64_t bytes        # their captured bytes, as read
    cdef readonly uint64_t batches
    cdef readonly uint64_t loops_done   # complete passes over the trace
    cdef readonly uint64_t loops        # passes wanted; 0 = until cancelled
    cdef readonly uint64_t revision     # chain revision of the latest batch
    cdef readonly uint64_t revisions_seen
    cdef readonly bint done
    cdef uint64_t vpackets[5]
    cdef uint64_t vbytes[5]
    cdef readonly uint64_t vwritten[5]  # packets written per verdict
    # pacing (see pump.pyx): rate > 0 packets/s, or speed > 0 pcap timing
    cdef readonly double rate
    cdef readonly double speed
    cdef volatile int cancel_flag       # set by cancel() from any thread
    cdef bint pace_started
    cdef uint64_t pace_t0               # monotonic ns of the first paced packet
    cdef uint64_t pace_sent             # packets paced so far (rate mode)
    cdef bint loop_ts_set               # pcap mode: loop_ts0 holds this pass's first timestamp
    cdef uint64_t loop_ts0
    cdef uint64_t loop_t0               # monotonic ns the pass's first packet is due
    cdef uint64_t last_due
    # pcapng interface id -> ctx->ingress_ifindex (ids past the end: id + 1)
    cdef uint32_t *ifmap
    cdef uint32_t n_ifmap
