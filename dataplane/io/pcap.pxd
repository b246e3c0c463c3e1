# C declarations of the pcap reader/writer (csrc/pcap_*.h) and their owners.
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from dataplane.io.frames cimport dp_batch


cdef extern from "pcap_read.h" nogil:
    enum:
        DP_PCAP_CLASSIC
        DP_PCAP_NG
        DP_PCAP_IFNAME

    cdef struct dp_pcap_iface:
        uint32_t linktype
        uint32_t snaplen
        uint32_t section
        uint8_t tsresol
        int64_t tsoffset
        char name[64]

    cdef struct dp_pcap_reader:
        uint64_t size
        uint64_t pos
        int format
        int swapped
        int nsec
        uint16_t ver_major
        uint16_t ver_minor
        uint32_t linktype
        uint32_t snaplen
        dp_pcap_iface *ifaces
        uint32_t n_ifaces
        uint32_t n_sections
        uint32_t section_first_if
        uint64_t packets
        uint64_t truncated
        int err
        uint64_t err_off
        char errmsg[256]

    int dp_pcap_open(dp_pcap_reader *r, const uint8_t *base, uint64_t size)
    int dp_pcap_rewind(dp_pcap_reader *r)
    uint32_t dp_pcap_read_batch(dp_pcap_reader *r, dp_batch *b)
    uint32_t dp_pcap_read_batch_from(dp_pcap_reader *r, dp_batch *b, uint32_t start)
    void dp_pcap_close(dp_pcap_reader *r)


cdef extern from "pcap_guard.h" nogil:
    int dp_sigbus_guard_install()
    int dp_pcap_fill_guarded(dp_pcap_reader *r, dp_batch *b, uint32_t start,
                             const uint8_t *map, uint64_t map_len, uint32_t *n, int *tail)
    int dp_pcap_open_guarded(dp_pcap_reader *r, const uint8_t *map, uint64_t size, int *rc)
    int dp_pcap_rewind_guarded(dp_pcap_reader *r, const uint8_t *map, uint64_t map_len, int *rc)


cdef extern from "pcap_write.h" nogil:
    cdef struct dp_pcap_writer:
        int fd
        int nsec
        uint32_t snaplen
        uint32_t linktype
        uint64_t packets
        uint64_t bytes

    int dp_pcap_writer_open(dp_pcap_writer *w, int fd, uint32_t linktype, uint32_t snaplen, int nsec)
    int dp_pcap_write_packet(dp_pcap_writer *w, const uint8_t *data, uint32_t len,
                             uint32_t wire_extra, uint64_t ts_ns)
    int64_t dp_pcap_write_batch(dp_pcap_writer *w, const dp_batch *b, const uint32_t *idx,
                                uint32_t n_idx, const uint8_t *mask, int64_t want_verdict)
    int64_t dp_pcap_write_verdicts(dp_pcap_writer **ws, uint32_t nws, const dp_batch *b,
                                   uint64_t *written)
    int dp_pcap_flush(dp_pcap_writer *w)
    int dp_pcap_writer_close(dp_pcap_writer *w)


cdef class PcapReader:
    cdef dp_pcap_reader r
    cdef const uint8_t *map    # the whole file, mapped read-only at open
    cdef uint64_t map_len
    cdef int fd
    cdef uint64_t opened_size  # st_size at open (r.size drops if the file shrinks)
    cdef bint opened
    cdef readonly str path
    # Native API: fill b from the file; raises PcapError on a bad record
    # only when no packet precedes it in this call.
    cdef uint32_t read_into(self, dp_batch *b) except? 0xffffffff
    cdef bint _shrunk(self) except -1
    cdef int _guard(self) except -1
    cdef void _release(self) noexcept


cdef class PcapWriter:
    cdef dp_pcap_writer w
    cdef bint opened
    cdef readonly str path
    cdef int64_t write_into(self, const dp_batch *b, const uint32_t *idx, uint32_t n_idx,
                            const uint8_t *mask, int64_t verdict) except -1


# For other extension modules (the replay pump): the writer's C functions
# live in this module's .so, so they are exported as Cython C-API functions.
cdef int64_t pcap_write_verdicts(dp_pcap_writer **ws, uint32_t nws, const dp_batch *b,
                                 uint64_t *written) noexcept nogil
cdef int pcap_flush(dp_pcap_writer *w) noexcept nogil
