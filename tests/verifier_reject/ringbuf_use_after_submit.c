// Writes a ring buffer record after submitting it.
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int ringbuf_use_after_submit(struct xdp_md *ctx)
{
	volatile __u32 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return XDP_PASS;
	bpf_ringbuf_submit((void *)rec, 0);
	*rec = ctx->rx_queue_index;
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
