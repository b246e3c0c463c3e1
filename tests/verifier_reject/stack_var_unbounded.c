// A stack array indexed by an unchecked packet-derived value.
#include "common.h"

SEC("xdp")
int stack_var_unbounded(struct xdp_md *ctx)
{
	volatile __u8 buf[64] = {};
	__u32 i = ctx->rx_queue_index;
	buf[i] = 1;
	return buf[0];
}
char _license[] SEC("license") = "GPL";
