// Writing one byte into the second half of a dynptr destroys it: it is no
// longer an initialised dynptr when passed to a slice.
#include "dynptr_common.h"
SEC("xdp") int dynptr_partial_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr ptr; __u8 *p;
	bpf_dynptr_from_xdp(ctx, 0, &ptr);
	((volatile __u8 *)&ptr)[9] = 1;
	p = bpf_dynptr_slice(&ptr, 0, NULL, 1);
	return p ? p[0] : 0;
}
