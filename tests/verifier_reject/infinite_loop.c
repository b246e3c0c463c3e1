// Spin-waits on a register that never changes (a busy loop on a value read once).
#include "common.h"

SEC("xdp")
int infinite_loop(struct xdp_md *ctx)
{
	__u64 q = ctx->rx_queue_index;
	asm volatile("1: if %0 != 7 goto 1b" :: "r"(q));
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
