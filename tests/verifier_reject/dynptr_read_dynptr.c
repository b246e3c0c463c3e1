// The 16 bytes of a struct bpf_dynptr cannot be read as plain stack.
#include "dynptr_common.h"
SEC("xdp") int dynptr_read_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	return *(volatile __u32 *)&ptr;
}
