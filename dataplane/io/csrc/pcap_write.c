/* pcap_write.c - see pcap_write.h. */
#include "pcap_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int dp_pcap_flush(struct dp_pcap_writer *w)
{
    int rc;
    if (!w->len)
        return 0;
    rc = write_all(w->fd, w->buf, w->len);
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
            return write_all(w->fd, p, n);
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
    memset(w, 0, sizeof *w);
    w->fd = fd;
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

int dp_pcap_writer_close(struct dp_pcap_writer *w)
{
    int rc = 0, rc2;
    if (w->fd < 0)
        return 0;
    rc = dp_pcap_flush(w);
    rc2 = close(w->fd);
    if (!rc && rc2 < 0)
        rc = -errno;
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
    return rc;
}
