// bpf_dynptr_data's memory goes with its dynptr: overwriting the dynptr's
// stack slots ends it, and the pointer with it.
#include "dynptr_common.h"
SEC("xdp") int dynptr_data_after_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	p = bpf_dynptr_data(&ptr, 0, 4);
	if (!p) return XDP_DROP;
	*(volatile __u64 *)&ptr = 0;
	return p[0];
}
