// bpf_dynptr_from_xdp takes the program's context, not a pointer to the stack.
#include "dynptr_common.h"
SEC("xdp") int dynptr_from_not_ctx(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; struct xdp_md fake = {};
	bpf_dynptr_from_xdp(&fake, 0, &ptr);
	return XDP_PASS;
}
