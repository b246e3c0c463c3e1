// Two frames of 320 bytes each: over the 512-byte combined stack.
#include "common.h"

static __attribute__((noinline)) int inner(int x)
{
	volatile char buf[320];
	buf[x & 255] = 1;
	return buf[3];
}

SEC("xdp")
int stack_combined_too_big(struct xdp_md *ctx)
{
	volatile char buf[320];
	buf[ctx->rx_queue_index & 255] = 2;
	return inner(buf[5]) & 3;
}
char _license[] SEC("license") = "GPL";
