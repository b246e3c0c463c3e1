/*
 * pcap_guard.h - read a memory-mapped pcap without dying if it is truncated.
 *
 * The reader maps the whole file so each packet is copied once, straight
 * from the page cache into its batch slot.  If another process truncates the
 * file, touching a page past the new end raises SIGBUS.  dp_pcap_fill_guarded()
 * runs one batch fill with a thread-local recovery point armed: a SIGBUS
 * whose address lies inside that fill's mapping jumps back to it and the call
 * reports the fault; every other SIGBUS goes to whoever handled it before us.
 */
#ifndef DP_PCAP_GUARD_H
#define DP_PCAP_GUARD_H

#include <stdint.h>
#include "pcap_read.h"

/* Install our SIGBUS handler if it is not the current one (again if someone,
 * e.g. Python's faulthandler, replaced it since; that handler becomes the one
 * we chain to).  0, or -errno. */
int dp_sigbus_guard_install(void);

/* Granularity of mappings: past a new end of file, the rest of its page
 * reads as zeros; the pages after it fault. */
#define DP_PCAP_PAGE 4096u

/* dp_pcap_read_batch_from(r, b, start) with faults on [map, map + map_len)
 * caught.  Returns 0 and sets *n, or 1 if a SIGBUS interrupted the fill (the
 * reader and batch are then half-updated: the caller restores/redoes them).
 * *tail is set when the fill reached the last page of the file (of r->size),
 * where a truncation does not fault: the caller must check the size. */
int dp_pcap_fill_guarded(struct dp_pcap_reader *r, struct dp_batch *b, uint32_t start,
                         const uint8_t *map, uint64_t map_len, uint32_t *n, int *tail);

/* dp_pcap_open / dp_pcap_rewind likewise (pcapng ones parse blocks);
 * *rc gets their result when 0 is returned. */
int dp_pcap_open_guarded(struct dp_pcap_reader *r, const uint8_t *map, uint64_t size, int *rc);
int dp_pcap_rewind_guarded(struct dp_pcap_reader *r, const uint8_t *map, uint64_t map_len, int *rc);

#endif /* DP_PCAP_GUARD_H */
