// Slicing a dynptr that bpf_dynptr_from_xdp never initialised.
#include "dynptr_common.h"
SEC("xdp") int dynptr_uninit(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 *p;
	p = bpf_dynptr_slice(&ptr, 0, NULL, 4);
	return p ? p[0] : 0;
}
