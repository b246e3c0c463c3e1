// The buffer must hold the slice's size: 8 bytes into a 4-byte buffer runs into the dynptr.
#include "dynptr_common.h"
SEC("xdp") int dynptr_small_buf(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 buf[4]; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	p = bpf_dynptr_slice(&ptr, 0, buf, 8);
	return p ? p[0] : 0;
}
