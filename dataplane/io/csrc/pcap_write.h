/*
 * pcap_write.h - classic pcap output through a user-space buffer.
 *
 * Frames are appended to a 1 MiB buffer and written with write(2) when it
 * fills, so writing a batch costs a memcpy per packet and a syscall per MiB.
 * Files are written in host byte order, which every pcap reader accepts.
 */
#ifndef DP_PCAP_WRITE_H
#define DP_PCAP_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include "dp_frame.h"

#define DP_PCAP_WBUF (1u << 20)

struct dp_pcap_writer {
    int fd;
    int nsec;
    uint32_t snaplen;
    uint32_t linktype;
    uint8_t *buf;
    size_t len;
    uint64_t packets;
    uint64_t bytes;  /* file size so far, including buffered bytes */
};

/* Takes ownership of fd; writes the file header. 0 or -errno. */
int dp_pcap_writer_open(struct dp_pcap_writer *w, int fd, uint32_t linktype,
                        uint32_t snaplen, int nsec);
int dp_pcap_write_packet(struct dp_pcap_writer *w, const uint8_t *data, uint32_t len,
                         uint32_t wire_extra, uint64_t ts_ns);
/* Writes the frames of b selected by idx[0..n_idx) if idx is not NULL, else
 * by mask[i] != 0 if mask is not NULL, else by verdict == want_verdict if
 * want_verdict >= 0, else all of them.  Returns frames written or -errno. */
int64_t dp_pcap_write_batch(struct dp_pcap_writer *w, const struct dp_batch *b,
                            const uint32_t *idx, uint32_t n_idx, const uint8_t *mask,
                            int64_t want_verdict);
int dp_pcap_flush(struct dp_pcap_writer *w);
/* Flushes and closes; 0 or -errno (the fd is closed either way). */
int dp_pcap_writer_close(struct dp_pcap_writer *w);

#endif /* DP_PCAP_WRITE_H */
