// A bpf_dynptr_slice is read-only memory: writing through it is refused.
#include "dynptr_common.h"
SEC("xdp") int dynptr_write_ro(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; struct ethhdr *eth;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	eth = bpf_dynptr_slice(&ptr, 0, NULL, sizeof(*eth));
	if (!eth) return XDP_DROP;
	eth->h_proto = 0;
	return XDP_PASS;
}
