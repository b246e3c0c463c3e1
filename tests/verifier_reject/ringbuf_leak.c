// Reserves a ring buffer record and forgets to submit it on one path.
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("xdp")
int ringbuf_leak(struct xdp_md *ctx)
{
	__u32 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return XDP_PASS;
	*rec = ctx->rx_queue_index;
	if (*rec == 3)
		return XDP_DROP;
	bpf_ringbuf_submit(rec, 0);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
