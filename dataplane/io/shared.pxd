# One Source dealt to N pumps, one Sink shared by N pumps (io/shared.pyx).
from libc.stdint cimport int64_t, uint32_t, uint64_t

from dataplane.includes.deal cimport dp_deal
from dataplane.includes.system cimport pthread_mutex_t
from dataplane.io.frames cimport dp_batch
from dataplane.io.pcap cimport PcapReader
from dataplane.io.pcap_source cimport PcapSource
from dataplane.io.source cimport Sink, Source


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
    # batches by number after the first pass (free order, classic pcap: shared.pyx)
    cdef PcapSource psrc               # inner, when a PcapSource
    cdef bint can_number
    cdef uint64_t *starts              # file offset of each batch of a pass (first pass: growing)
    cdef uint64_t nstarts
    cdef uint64_t cap_starts
    cdef uint64_t nb                   # batches per pass, once the first pass ended (0 before)
    cdef uint64_t next_g               # the next batch number to claim (atomic)
    cdef uint64_t *claim               # worker i's claimed batch number (UINT64_MAX: none)
    cdef readonly uint64_t batches_by_number  # batches read by number (either path)
    cdef readonly uint64_t batches_numbered   # of those, read without the lock
    cdef (uint64_t, uint64_t) fill_mark(self) noexcept nogil
    cdef void note_batch(self, dp_batch *b, uint64_t pos0, uint64_t loops0) noexcept nogil
    cdef uint64_t claim_nogil(self, int w) noexcept nogil
    cdef int fill_numbered(self, int w, dp_batch *b) noexcept nogil
    cdef void took_numbered(self, int w, dp_batch *b, int n, uint64_t seq) noexcept nogil
    cdef int worker_of(self, dp_batch *b) except -1
    cdef int worker_nogil(self, dp_batch *b) noexcept nogil   # -1: not registered


cdef class SharedSink(Sink):
    cdef readonly Sink inner
    cdef pthread_mutex_t lock
    cdef bint lock_ok
