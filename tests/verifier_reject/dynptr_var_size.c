// buffer__szk must be a known constant (the slice's size).
#include "dynptr_common.h"
SEC("xdp") int dynptr_var_size(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 buf[16]; __u8 *p; __u32 n = ctx->ingress_ifindex & 15;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	p = bpf_dynptr_slice(&ptr, 0, buf, n);
	return p ? 1 : 2;
}
