# One Source dealt to N pumps, one Sink shared by N pumps (io/shared.pyx).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from dataplane.includes.deal cimport dp_deal
from dataplane.io.frames cimport dp_batch
from dataplane.io.pcap cimport PcapReader
from dataplane.io.source cimport Sink, Source


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass


cdef class SharedSource(Source):
    cdef readonly Source inner
    cdef readonly bint ordered
    cdef readonly uint32_t workers
    cdef dp_deal d
    cdef bint d_ok
    cdef pthread_mutex_t fill_lock     # one fill of `inner` at a time
    cdef PcapReader reader             # the trace, when inner is a PcapSource (lease hand-over)
    cdef dp_batch **batches            # worker i's batch (registered), its batch in flight:
    cdef uint64_t *seq                 # seq[i] its number
    cdef bint *busy
    cdef int worker_of(self, dp_batch *b) except -1
    cdef int worker_nogil(self, dp_batch *b) noexcept nogil   # -1: not registered


cdef class SharedSink(Sink):
    cdef readonly Sink inner
    cdef pthread_mutex_t lock
    cdef bint lock_ok
