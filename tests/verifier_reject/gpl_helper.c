// bpf_trace_printk is GPL-only; the program is not GPL.
#include "common.h"

SEC("xdp")
int gpl_helper(struct xdp_md *ctx)
{
	bpf_printk("queue %u", ctx->rx_queue_index);
	return XDP_PASS;
}
char _license[] SEC("license") = "Proprietary";
