// bpf_xdp_adjust_head changes the packet: slices of a packet dynptr die with it.
#include "dynptr_common.h"
SEC("xdp") int dynptr_after_adjust(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	p = bpf_dynptr_slice(&ptr, 0, NULL, 4);
	if (!p) return XDP_DROP;
	bpf_xdp_adjust_head(ctx, 0);
	return p[0];
}
