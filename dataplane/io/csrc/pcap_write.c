/* pcap_write.c - see pcap_write.h. */
#define _GNU_SOURCE
#include "pcap_write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DP_PREALLOC_MIN (4ull << 20)
#define DP_PREALLOC_MAX (64ull << 20)

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Keep the file's blocks reserved ahead of [off, off + n): steps double
 * with the file (4..64 MiB) so a small output never holds much extra. Any
 * failure (no fallocate, ENOSPC) just turns preallocation off: write(2)
 * then reports what matters. */
static void prealloc(struct dp_pcap_writer *w, uint64_t n)
{
    uint64_t step;
    if (!w->can_prealloc || w->off + n <= w->prealloc)
        return;
    step = w->off < DP_PREALLOC_MIN ? DP_PREALLOC_MIN : w->off;
    if (step > DP_PREALLOC_MAX)
        step = DP_PREALLOC_MAX;
    if (step < n)
        step = n;
    if (fallocate(w->fd, FALLOC_FL_KEEP_SIZE, (off_t)w->prealloc, (off_t)(w->off + step - w->prealloc)) < 0) {
        w->can_prealloc = 0;
        return;
    }
    w->prealloc = w->off + step;
}

static int write_out(struct dp_pcap_writer *w, const uint8_t *p, size_t n)
{
    int rc;
    prealloc(w, n);
    rc = write_all(w->fd, p, n);
    if (!rc)
        w->off += n;
    return rc;
}

int dp_pcap_flush(struct dp_pcap_writer *w)
{
    int rc;
    if (!w->len)
        return 0;
    rc = write_out(w, w->buf, w->len);
    w->len = 0;
    return rc;
}

static inline int put(struct dp_pcap_writer *w, const void *p, size_t n)
{
    int rc;
    if (w->len + n > DP_PCAP_WBUF) {
        if ((rc = dp_pcap_flush(w)) < 0)
            return rc;
        if (n > DP_PCAP_WBUF) /* bigger than the whole buffer: straight out */
            return write_out(w, p, n);
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

int dp_pcap_writer_open(struct dp_pcap_writer *w, int fd, uint32_t linktype, uint32_t snaplen,
                        int nsec)
{
    uint32_t hdr[6];
    uint16_t ver[2] = {2, 4};
    struct stat st;
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->can_prealloc = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    w->buf = malloc(DP_PCAP_WBUF);
    if (!w->buf)
        return -ENOMEM;
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
    return put(w, hdr, sizeof hdr);
}

int dp_pcap_write_packet(struct dp_pcap_writer *w, const uint8_t *data, uint32_t len,
                         uint32_t wire_extra, uint64_t ts_ns)
{
    uint32_t rec[4], caplen = len < w->snaplen ? len : w->snaplen;
    uint64_t orig = (uint64_t)len + wire_extra;
    int rc;
    rec[0] = (uint32_t)(ts_ns / 1000000000u);
    rec[1] = (uint32_t)(ts_ns % 1000000000u);
    if (!w->nsec)
        rec[1] /= 1000u;
    rec[2] = caplen;
    rec[3] = orig > UINT32_MAX ? UINT32_MAX : (uint32_t)orig;
    if ((rc = put(w, rec, sizeof rec)) < 0 || (rc = put(w, data, caplen)) < 0)
        return rc;
    w->packets++;
    w->bytes += sizeof rec + caplen;
    return 0;
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

static inline void rec_header(const struct dp_pcap_writer *w, uint8_t *p, const struct dp_frame *f,
                              uint32_t len, uint32_t caplen)
{
    uint32_t rec[4];
    uint64_t orig = (uint64_t)len + f->wire_extra;
    rec[0] = (uint32_t)(f->ts_ns / 1000000000u);
    rec[1] = (uint32_t)(f->ts_ns % 1000000000u);
    if (!w->nsec)
        rec[1] /= 1000u;
    rec[2] = caplen;
    rec[3] = orig > UINT32_MAX ? UINT32_MAX : (uint32_t)orig;
    memcpy(p, rec, sizeof rec);
}

/* Append one frame through the inline fast path (record header and bytes
 * straight into the buffer); 0 or -errno. */
static inline int append_frame(struct dp_pcap_writer *w, const struct dp_frame *f)
{
    uint32_t len = dp_frame_len(f), caplen = len < w->snaplen ? len : w->snaplen;
    size_t need = 16 + (size_t)caplen;
    int rc;
    if (__builtin_expect(w->len + need > DP_PCAP_WBUF, 0)) {
        if ((rc = dp_pcap_flush(w)) < 0)
            return rc;
        if (need > DP_PCAP_WBUF)       /* cannot happen with batch slots; stay correct */
            return put_frame(w, f);
    }
    rec_header(w, w->buf + w->len, f, len, caplen);
    memcpy(w->buf + w->len + 16, f->data, caplen);
    w->len += need;
    w->packets++;
    w->bytes += need;
    return 0;
}

int64_t dp_pcap_write_frames(struct dp_pcap_writer *w, const struct dp_batch *b, const uint32_t *idx,
                             uint32_t n)
{
    uint32_t i;
    int rc;
    for (i = 0; i < n; i++)
        if ((rc = append_frame(w, &b->frames[idx[i]])) < 0)
            return rc;
    return n;
}

int dp_pcap_writer_close(struct dp_pcap_writer *w)
{
    int rc = 0, rc2;
    if (w->fd < 0)
        return 0;
    rc = dp_pcap_flush(w);
    /* give back the blocks reserved past the end (see prealloc()) */
    if (!rc && w->prealloc > w->off && ftruncate(w->fd, (off_t)w->off) < 0)
        rc = -errno;
    rc2 = close(w->fd);
    if (!rc && rc2 < 0)
        rc = -errno;
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
    return rc;
}
