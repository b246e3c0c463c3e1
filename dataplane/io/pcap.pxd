# The pcap/pcapng file reader and the pcap writer (a Sink); C declarations
# in include/pcap.pxd.
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from dataplane.includes.pcap cimport dp_pcap_reader, dp_pcap_writer
from dataplane.io.frames cimport dp_batch
from dataplane.io.source cimport Sink


cdef class PcapReader:
    cdef dp_pcap_reader r
    cdef const uint8_t *map    # the whole file, mapped read-only at open
    cdef uint64_t map_len
    cdef int fd
    cdef uint64_t opened_size  # st_size at open (r.size drops if the file shrinks)
    cdef bint opened
    cdef int in_place          # frames in the mapping: 0 not tried yet, 1 lease held, -1 never
    cdef readonly str path
    # Native API: fill b from the file; raises PcapError on a bad record
    # only when no packet precedes it in this call.
    cdef uint32_t read_into(self, dp_batch *b) except? 0xffffffff
    # The same without the GIL on the common path: n > 0 frames, or
    # DP_NEED_GIL with the reader as it was (the end of the trace, a bad
    # record, a shrunk file, the first lease: read_into's to handle).
    cdef int read_nogil(self, dp_batch *b) noexcept nogil
    cdef int rewind_c(self) except -1
    cdef bint _shrunk(self) except -1
    cdef bint _in_place_ok(self) except -1
    cdef bint lease_breaking(self) noexcept nogil   # in place, and someone asked for the file (io/shared.pyx)
    cdef int _guard(self) except -1
    cdef void _release(self) noexcept


cdef class PcapWriter(Sink):
    # The replay's Sink: put() appends the frames to a 1 MiB buffer
    # (pcap_write.h), flush_c() writes it out.
    cdef dp_pcap_writer w
    cdef bint opened
    cdef public uint64_t max_bytes   # the file may not grow past this (0: no cap): put() raises
    cdef int nogil_err               # -errno of a put_nogil write, raised by the put() after it
    cdef readonly str path
    cdef uint32_t fits(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil
    cdef int64_t write_into(self, const dp_batch *b, const uint32_t *idx, uint32_t n_idx,
                            const uint8_t *mask, int64_t verdict) except -1
