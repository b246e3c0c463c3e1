// A dynptr lives on the stack: packet memory is no place to initialise one.
#include "dynptr_common.h"
SEC("xdp") int dynptr_not_stack(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 16 > end) return 0;
	bpf_dynptr_from_xdp(ctx, 0, data);
	return 1;
}
