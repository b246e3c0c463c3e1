// A dynptr must sit 8-byte aligned on the stack.
#include "dynptr_common.h"
SEC("xdp") int dynptr_misaligned(struct xdp_md *ctx)
{
	char space[24]; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, (struct bpf_dynptr *)(space + 4));
	p = bpf_dynptr_slice((struct bpf_dynptr *)(space + 4), 0, NULL, 4);
	return p ? p[0] : 0;
}
