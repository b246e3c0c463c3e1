// bpf_fib_lookup is GPL-only: a program under another license cannot call it.
#include "common.h"

SEC("xdp")
int fib_nongpl(struct xdp_md *ctx)
{
	struct bpf_fib_lookup fib = {};

	fib.family = 2;
	fib.ifindex = ctx->ingress_ifindex;
	return bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) == 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "MIT";
