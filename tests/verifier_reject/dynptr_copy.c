// A dynptr cannot be copied with a plain assignment: its stack slots are
// only for the dynptr kfuncs and helpers.
#include "dynptr_common.h"
SEC("xdp") int dynptr_copy(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr, copy; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	__builtin_memcpy(&copy, &ptr, sizeof(ptr));
	p = bpf_dynptr_slice(&copy, 0, NULL, 1);
	return p ? p[0] : 0;
}
