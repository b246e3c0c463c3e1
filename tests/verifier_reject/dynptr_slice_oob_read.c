// A slice is exactly as long as asked for: reading past it is refused.
#include "dynptr_common.h"
SEC("xdp") int dynptr_slice_oob_read(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	p = bpf_dynptr_slice(&ptr, 0, NULL, 4);
	if (!p) return XDP_DROP;
	return p[4];
}
