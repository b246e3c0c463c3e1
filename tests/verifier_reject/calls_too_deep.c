// Nine nested bpf-to-bpf calls: the kernel allows eight frames.
#include "common.h"

#define F(n, next) static __attribute__((noinline)) int f##n(int x) { asm volatile("" : "+r"(x)); return next(x + 1) + 1; }
static __attribute__((noinline)) int f9(int x) { asm volatile("" : "+r"(x)); return x; }
F(8, f9) F(7, f8) F(6, f7) F(5, f6) F(4, f5) F(3, f4) F(2, f3) F(1, f2)

SEC("xdp")
int calls_too_deep(struct xdp_md *ctx)
{
	return f1(ctx->rx_queue_index) & 3;
}
char _license[] SEC("license") = "GPL";
