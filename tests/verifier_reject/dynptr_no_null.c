// A slice is NULL when the range is not in the packet: it must be checked.
#include "dynptr_common.h"
SEC("xdp") int dynptr_no_null(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; struct ethhdr *eth;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	eth = bpf_dynptr_slice(&ptr, 0, NULL, sizeof(*eth));
	return eth->h_proto ? XDP_PASS : XDP_DROP;
}
