/*
 * dp_frame.h - the packet batch every data path shares.
 *
 * Sources (pcap replay, AF_XDP, AF_PACKET) fill a struct dp_batch, the
 * runtime's batch loop runs programs over it, sinks (pcap writer, TX rings)
 * consume it.  Keeping one layout means no source-specific copy between
 * stages: the batch is handed over by pointer.
 *
 * Each frame lives in a fixed-size slot laid out like the kernel's XDP
 * buffer (and an AF_XDP UMEM chunk):
 *
 *   hard_start                data_meta/data          data_end     hard_start+frame_sz
 *   |<---- DP_XDP_HEADROOM ---->|<----- packet ----->|<-- free -->|<-- DP_XDP_TAILROOM -->|
 *
 * so bpf_xdp_adjust_head/meta can grow the packet to the front down to
 * hard_start (the kernel keeps room for struct xdp_frame there, see
 * xdp_adjust_head) and bpf_xdp_adjust_tail can grow it up to
 * hard_start + frame_sz - DP_XDP_TAILROOM (xdp_data_hard_end()), exactly the
 * limits the kernel enforces.  Programs may move data, data_end and
 * data_meta; hard_start and frame_sz never change.
 */
#ifndef DP_FRAME_H
#define DP_FRAME_H

#include <stdint.h>

/* XDP_PACKET_HEADROOM in include/uapi/linux/bpf.h. */
#define DP_XDP_HEADROOM 256u
/* SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64: the kernel
 * reserves it at the end of every XDP buffer, so the largest packet a 4 KiB
 * slot holds is 4096 - 256 - 320 = 3520 bytes, as in BPF_PROG_TEST_RUN. */
#define DP_XDP_TAILROOM 320u
/* Default slot size: one page, the usual AF_XDP chunk size. */
#define DP_FRAME_SIZE 4096u

/* dp_frame.verdict: the action in the low byte; a Sink that keeps a frame
 * past its put() (a zero-copy TX ring) sets DP_FRAME_KEPT, and the Source's
 * release() then leaves that frame alone (see dataplane/io/source.pxd). */
#define DP_VERDICT_MASK 0xffu
#define DP_FRAME_KEPT 0x80000000u

struct dp_frame {
    uint8_t *data;       /* first packet byte (xdp_md->data) */
    uint8_t *data_end;   /* one past the last packet byte (xdp_md->data_end) */
    uint8_t *data_meta;  /* start of metadata; == data when there is none */
    uint8_t *hard_start; /* start of the slot; data - hard_start is the headroom */
    uint64_t ts_ns;      /* capture/receive time, ns since the Unix epoch */
    uint32_t frame_sz;   /* slot size in bytes (xdp_buff->frame_sz) */
    uint32_t ifindex;    /* ingress interface (pcapng: interface id) */
    uint32_t rx_queue;   /* ingress queue */
    uint32_t wire_extra; /* bytes on the wire beyond what was captured
                            (pcap orig_len - caplen); writers add it back */
    uint32_t verdict;    /* the XDP action the chain gave (DP_VERDICT_MASK), and
                            DP_FRAME_KEPT once a sink kept the frame */
    uint32_t reserved;
};                       /* 64 bytes: one cache line per frame */

struct dp_batch {
    struct dp_frame *frames; /* capacity entries, frames[0..count) valid */
    uint32_t count;
    uint32_t capacity;
    uint8_t *buffer;         /* capacity * frame_size bytes, page aligned:
                                slot i starts at buffer + i * frame_size */
    uint32_t frame_size;
    uint32_t headroom;       /* where a source places data in a fresh slot */
    uint32_t flags;          /* DP_BATCH_* */
};

/* dp_batch.flags: DP_BATCH_IN_PLACE, set by the pump before a fill when no
 * program of the chain writes packet memory or moves the packet's bounds
 * (VerifiedProgram.writes_packet): a source may then point frames at its
 * own read-only memory (a mapped trace) instead of copying into slots --
 * such a frame has no headroom and hard_start == data. A source that
 * cannot (or did not) clears the flag in its fill. */
#define DP_BATCH_IN_PLACE 1u
/* Set by the pcap reader when it delivered a batch in place: every frame's
 * data follows its record's header in the mapped trace, so the 16 bytes
 * before it are readable file bytes (pcap_write.c copies whole records
 * from there). The pump's next fill starts with the flag clear. */
#define DP_BATCH_IN_TRACE 2u

static inline uint32_t dp_frame_len(const struct dp_frame *f)
{
    return (uint32_t)(f->data_end - f->data);
}

/* Largest packet a slot holds with data at the default headroom. */
static inline uint32_t dp_batch_max_len(const struct dp_batch *b)
{
    return b->frame_size - b->headroom - DP_XDP_TAILROOM;
}

/* Point frame i at a fresh slot holding len bytes at the default headroom
 * (the caller copies the bytes to ->data). */
static inline struct dp_frame *dp_batch_reset_frame(struct dp_batch *b, uint32_t i, uint32_t len)
{
    struct dp_frame *f = &b->frames[i];
    f->hard_start = b->buffer + (uint64_t)i * b->frame_size;
    f->data = f->hard_start + b->headroom;
    f->data_meta = f->data;
    f->data_end = f->data + len;
    f->frame_sz = b->frame_size;
    f->ts_ns = 0;
    f->ifindex = 0;
    f->rx_queue = 0;
    f->wire_extra = 0;
    f->verdict = 0;
    f->reserved = 0;
    return f;
}

#endif /* DP_FRAME_H */
