# The pcap replay loop: read a batch, run the hook's chain, write by verdict.
from libc.stdint cimport uint64_t


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
