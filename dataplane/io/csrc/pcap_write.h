/*
 * pcap_write.h - classic pcap output through out_file.h's buffers.
 *
 * Frames are appended to a 1 MiB buffer (record header and bytes in one
 * pass per frame); a full buffer goes to the file's writer thread, which
 * writes it with O_DIRECT where the filesystem allows (see out_file.h), so
 * writing a batch costs a memcpy per packet on the caller's thread. Files
 * are written in host byte order, which every pcap reader accepts.
 *
 * Why a MiB and not one write(2) per batch: on ext4 a 20 KiB write (a batch
 * of 256 64-byte frames) costs ~0.5 ns/byte in the kernel, a 256 KiB+ write
 * ~0.2-0.8 ns/byte, and with the file's blocks preallocated ahead of the
 * write position (fallocate(FALLOC_FL_KEEP_SIZE), growing in steps up to
 * 64 MiB) a stable ~0.16 ns/byte: delayed allocation per page is what
 * dominates, not the syscall.  The preallocated tail is cut off at close
 * (ftruncate to the written size releases it on ext4/xfs/tmpfs).
 */
#ifndef DP_PCAP_WRITE_H
#define DP_PCAP_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include "dp_frame.h"
#include "out_file.h"

struct dp_pcap_writer {
    int fd;          /* -1 once closed */
    int nsec;
    uint32_t snaplen;
    uint32_t linktype;
    uint64_t packets;
    uint64_t bytes;  /* file size so far, including buffered bytes */
    struct dp_out out;
};

/* Takes ownership of fd; writes the file header. 0 or -errno.
 * dp_pcap_writer_open: DP_OUT_THREAD (writer thread, O_DIRECT if possible). */
int dp_pcap_writer_open(struct dp_pcap_writer *w, int fd, uint32_t linktype,
                        uint32_t snaplen, int nsec);
int dp_pcap_writer_open_mode(struct dp_pcap_writer *w, int fd, uint32_t linktype,
                             uint32_t snaplen, int nsec, int mode);
int dp_pcap_write_packet(struct dp_pcap_writer *w, const uint8_t *data, uint32_t len,
                         uint32_t wire_extra, uint64_t ts_ns);
/* Writes the frames of b selected by idx[0..n_idx) if idx is not NULL, else
 * by mask[i] != 0 if mask is not NULL, else by verdict == want_verdict if
 * want_verdict >= 0, else all of them.  Returns frames written or -errno. */
int64_t dp_pcap_write_batch(struct dp_pcap_writer *w, const struct dp_batch *b,
                            const uint32_t *idx, uint32_t n_idx, const uint8_t *mask,
                            int64_t want_verdict);
/* The pcap Sink: append b->frames[idx[0..n)] (indexes the caller checked)
 * through the buffer, no syscall unless it fills.  n or -errno. */
int64_t dp_pcap_write_frames(struct dp_pcap_writer *w, const struct dp_batch *b, const uint32_t *idx,
                             uint32_t n);
int dp_pcap_flush(struct dp_pcap_writer *w);
/* Flushes and closes; 0 or -errno (the fd is closed either way). */
int dp_pcap_writer_close(struct dp_pcap_writer *w);

#endif /* DP_PCAP_WRITE_H */
