/*
 * pcap_read.h - pcap and pcapng parsing over a memory-mapped file.
 *
 * The reader never allocates per packet and never calls back into Python:
 * dp_pcap_read_batch() walks records from the mapping and copies packet
 * bytes into the slots of a struct dp_batch (programs may rewrite them, the
 * file mapping stays read-only).
 *
 * Errors: a malformed record stops the batch *before* it, so the good
 * records ahead of it are delivered first; the reader's position stays on
 * the bad record and every later call fails on it again with the same
 * message, which names the byte offset.
 */
#ifndef DP_PCAP_READ_H
#define DP_PCAP_READ_H

#include <stdint.h>
#include "dp_frame.h"

#define DP_PCAP_ERRLEN 256
#define DP_PCAP_IFNAME 64

enum { DP_PCAP_CLASSIC = 1, DP_PCAP_NG = 2 };

struct dp_pcap_iface {
    uint32_t linktype;
    uint32_t snaplen;   /* 0 = unlimited */
    uint32_t section;   /* index of the pcapng section that declared it */
    uint8_t tsresol;    /* raw if_tsresol: bit 7 set = 2^-n, else 10^-n */
    int64_t tsoffset;   /* if_tsoffset, seconds */
    /* timestamp unit -> ns: ts * mul / div (decimal) or ts * 1e9 >> shift */
    uint64_t ts_mul, ts_div;
    int ts_shift;       /* -1 for decimal resolutions */
    char name[DP_PCAP_IFNAME];
};

/* The reader parses the `size` bytes at `base` (the whole file, mapped).
 * The owner may lower `size` between calls when the file shrank under it
 * (see pcap_guard.h): records past it are then reported as truncated. */
struct dp_pcap_reader {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;        /* offset of the next record/block */
    uint64_t data_start; /* classic: 24 (first record); pcapng: 0 */
    int format;          /* DP_PCAP_CLASSIC or DP_PCAP_NG */
    int swapped;         /* file (classic) / current section (pcapng) is foreign-endian */
    int nsec;            /* classic: nanosecond timestamps */
    uint16_t ver_major, ver_minor;
    uint32_t linktype, snaplen; /* classic header; pcapng: first interface */
    struct dp_pcap_iface *ifaces;
    uint32_t n_ifaces, cap_ifaces;
    uint32_t section_first_if; /* global index of the current section's interface 0 */
    uint32_t n_sections;
    uint64_t packets;    /* records delivered since open/rewind */
    uint64_t truncated;  /* packets cut to fit a slot */
    int err;             /* set when the last call stopped on a malformed record */
    uint64_t err_off;
    char errmsg[DP_PCAP_ERRLEN];
};

/* Parse the file header (and, for pcapng, every block before the first
 * packet, so interfaces are known).  0 on success, -1 with errmsg set. */
int dp_pcap_open(struct dp_pcap_reader *r, const uint8_t *base, uint64_t size);
/* Back to the first record; -1 only if the file changed under us. */
int dp_pcap_rewind(struct dp_pcap_reader *r);
/* Fill b->frames[0..n) with the next n <= b->capacity packets; sets
 * b->count = n and returns n.  r->err is set if it stopped on a bad record. */
uint32_t dp_pcap_read_batch(struct dp_pcap_reader *r, struct dp_batch *b);
/* Same, keeping b->frames[0..start) and filling from slot `start` on;
 * returns the new b->count. */
uint32_t dp_pcap_read_batch_from(struct dp_pcap_reader *r, struct dp_batch *b, uint32_t start);
void dp_pcap_close(struct dp_pcap_reader *r);

#endif /* DP_PCAP_READ_H */
