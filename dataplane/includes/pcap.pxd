# C view of the pcap reader, SIGBUS guard and writer (io/csrc/pcap_*.h).
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from dataplane.includes.frame cimport dp_batch


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


cdef extern from "out_file.h" nogil:
    enum:
        DP_OUT_SYNC
        DP_OUT_THREAD
    cdef struct dp_out:
        int mode
        int direct
        uint64_t wait_ns
        uint64_t waits
    uint8_t *dp_out_reserve(dp_out *o, size_t n)
    void dp_out_times(dp_out *o, uint64_t *cpu_ns, uint64_t *wall_ns)


cdef extern from "pcap_write.h" nogil:
    cdef struct dp_pcap_writer:
        int fd
        int nsec
        uint32_t snaplen
        uint32_t linktype
        uint64_t packets
        uint64_t bytes
        dp_out out

    int dp_pcap_writer_open(dp_pcap_writer *w, int fd, uint32_t linktype, uint32_t snaplen, int nsec)
    int dp_pcap_writer_open_mode(dp_pcap_writer *w, int fd, uint32_t linktype, uint32_t snaplen, int nsec,
                                 int mode)
    int dp_pcap_write_packet(dp_pcap_writer *w, const uint8_t *data, uint32_t len,
                             uint32_t wire_extra, uint64_t ts_ns)
    int64_t dp_pcap_write_batch(dp_pcap_writer *w, const dp_batch *b, const uint32_t *idx,
                                uint32_t n_idx, const uint8_t *mask, int64_t want_verdict)
    int64_t dp_pcap_write_frames(dp_pcap_writer *w, const dp_batch *b, const uint32_t *idx, uint32_t n)
    int dp_pcap_flush(dp_pcap_writer *w)
    int dp_pcap_writer_close(dp_pcap_writer *w)
