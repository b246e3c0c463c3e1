/* pcap_write.c - see pcap_write.h. */
#define _GNU_SOURCE
#include "pcap_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int dp_pcap_flush(struct dp_pcap_writer *w) { return dp_out_flush(&w->out); }

int dp_pcap_writer_open(struct dp_pcap_writer *w, int fd, uint32_t linktype, uint32_t snaplen,
                        int nsec)
{
    return dp_pcap_writer_open_mode(w, fd, linktype, snaplen, nsec, DP_OUT_THREAD);
}

int dp_pcap_writer_open_mode(struct dp_pcap_writer *w, int fd, uint32_t linktype, uint32_t snaplen,
                             int nsec, int mode)
{
    uint32_t hdr[6];
    uint16_t ver[2] = {2, 4};
    int rc;
    memset(w, 0, sizeof *w);
    w->fd = fd;
    if ((rc = dp_out_open(&w->out, fd, mode)) < 0)
        return rc;
    w->nsec = nsec;
    w->snaplen = snaplen;
    w->linktype = linktype;
    hdr[0] = nsec ? 0xa1b23c4du : 0xa1b2c3d4u;
    memcpy(&hdr[1], ver, sizeof ver); /* version 2.4 */
    hdr[2] = 0;               /* thiszone */
    hdr[3] = 0;               /* sigfigs */
    hdr[4] = snaplen;
    hdr[5] = linktype;
    w->bytes = sizeof hdr;
    return dp_out_append(&w->out, hdr, sizeof hdr);
}

static inline void rec_header(const struct dp_pcap_writer *w, uint8_t *p, uint64_t ts_ns, uint32_t len,
                              uint32_t caplen, uint32_t wire_extra)
{
    uint32_t rec[4];
    uint64_t orig = (uint64_t)len + wire_extra;
    rec[0] = (uint32_t)(ts_ns / 1000000000u);
    rec[1] = (uint32_t)(ts_ns % 1000000000u);
    if (!w->nsec)
        rec[1] /= 1000u;
    rec[2] = caplen;
    rec[3] = orig > UINT32_MAX ? UINT32_MAX : (uint32_t)orig;
    memcpy(p, rec, sizeof rec);
}

int dp_pcap_write_packet(struct dp_pcap_writer *w, const uint8_t *data, uint32_t len,
                         uint32_t wire_extra, uint64_t ts_ns)
{
    uint32_t caplen = len < w->snaplen ? len : w->snaplen;
    size_t need = 16 + (size_t)caplen;
    uint8_t *dst = dp_out_reserve(&w->out, need);
    int rc;
    if (__builtin_expect(dst != NULL, 1)) {
        /* the fast path: record header and bytes straight into the buffer */
        rec_header(w, dst, ts_ns, len, caplen, wire_extra);
        memcpy(dst + 16, data, caplen);
        dp_out_commit(&w->out, need);
    } else {
        uint8_t rec[16];
        rec_header(w, rec, ts_ns, len, caplen, wire_extra);
        if ((rc = dp_out_append(&w->out, rec, sizeof rec)) < 0 || (rc = dp_out_append(&w->out, data, caplen)) < 0)
            return rc;
    }
    w->packets++;
    w->bytes += need;
    return w->out.err;
}

static inline int put_frame(struct dp_pcap_writer *w, const struct dp_frame *f)
{
    return dp_pcap_write_packet(w, f->data, dp_frame_len(f), f->wire_extra, f->ts_ns);
}

int64_t dp_pcap_write_batch(struct dp_pcap_writer *w, const struct dp_batch *b,
                            const uint32_t *idx, uint32_t n_idx, const uint8_t *mask,
                            int64_t want_verdict)
{
    int64_t n = 0;
    uint32_t i;
    int rc;
    if (idx) {
        for (i = 0; i < n_idx; i++) {
            if (idx[i] >= b->count)
                return -EINVAL;
        }
        for (i = 0; i < n_idx; i++, n++)
            if ((rc = put_frame(w, &b->frames[idx[i]])) < 0)
                return rc;
        return n;
    }
    for (i = 0; i < b->count; i++) {
        if (mask && !mask[i])
            continue;
        if (!mask && want_verdict >= 0 && b->frames[i].verdict != (uint64_t)want_verdict)
            continue;
        if ((rc = put_frame(w, &b->frames[i])) < 0)
            return rc;
        n++;
    }
    return n;
}

/* Append the input bytes [p, end), `packets` whole records (see write_spans). */
static int put_span(struct dp_pcap_writer *w, const uint8_t *p, const uint8_t *end, uint64_t packets)
{
    size_t n = (size_t)(end - p);
    int rc;
    if (!n)
        return 0;
    if ((rc = dp_out_append(&w->out, p, n)) < 0)
        return rc;
    w->packets += packets;
    w->bytes += n;
    return w->out.err;
}

/* A DP_BATCH_IN_TRACE batch's frames point into the pcap reader's mapped
 * trace, each right after its record's header there (dp_frame.h; the 16
 * bytes before a frame's data are the file's: a classic record header, or
 * the end of a pcapng block header and what precedes it). Where those 16 bytes are exactly
 * the header this writer would write for the frame (same byte order and
 * timestamp unit, caplen and orig len), the input from them to the frame's
 * end is the output record, byte for byte; frames whose records follow each
 * other in the trace (a pass-through run, a firewall's passes between two
 * drops) make one span, appended with one copy instead of a header and a
 * copy per frame -- on the mixed trace the per-frame copies were most of a
 * put's time (perf, issue 16). The file's bytes are the same by
 * construction: every header in a span was compared with the one it
 * stands for, any other frame goes out as before. */
static int64_t write_spans(struct dp_pcap_writer *w, const struct dp_batch *b, const uint32_t *idx, uint32_t n)
{
    const uint8_t *span = NULL, *end = NULL;   /* input bytes not appended yet */
    uint64_t in_span = 0;
    uint32_t i;
    int rc;
    for (i = 0; i < n; i++) {
        const struct dp_frame *f = &b->frames[idx[i]];
        uint32_t len = dp_frame_len(f);
        uint8_t rec[16];
        if (len <= w->snaplen) {
            rec_header(w, rec, f->ts_ns, len, len, f->wire_extra);
            if (memcmp(f->data - 16, rec, sizeof rec) == 0) {
                if (f->data - 16 != end) {
                    if ((rc = put_span(w, span, end, in_span)) < 0)
                        return rc;
                    span = f->data - 16;
                    in_span = 0;
                }
                end = f->data + len;
                in_span++;
                continue;
            }
        }
        if ((rc = put_span(w, span, end, in_span)) < 0 || (rc = put_frame(w, f)) < 0)
            return rc;
        span = end = NULL;
        in_span = 0;
    }
    if ((rc = put_span(w, span, end, in_span)) < 0)
        return rc;
    return n;
}

int64_t dp_pcap_write_frames(struct dp_pcap_writer *w, const struct dp_batch *b, const uint32_t *idx,
                             uint32_t n)
{
    uint32_t i;
    int rc;
    if (b->flags & DP_BATCH_IN_TRACE)
        return write_spans(w, b, idx, n);
    for (i = 0; i < n; i++)
        if ((rc = put_frame(w, &b->frames[idx[i]])) < 0)
            return rc;
    return n;
}

int dp_pcap_writer_close(struct dp_pcap_writer *w)
{
    int rc;
    if (w->fd < 0)
        return 0;
    rc = dp_out_close(&w->out);
    w->fd = -1;
    return rc;
}
