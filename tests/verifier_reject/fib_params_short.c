// bpf_fib_lookup told the params are 64 bytes while the stack buffer is 32:
// the helper would write past it.
#include "common.h"

SEC("xdp")
int fib_params_short(struct xdp_md *ctx)
{
	__u64 buf[4] = {};

	buf[0] = 2;     /* AF_INET */
	return bpf_fib_lookup(ctx, (void *)buf, 64, 0) == 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
