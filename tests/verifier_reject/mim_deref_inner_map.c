// The "value" of an array of maps is the inner map (a struct bpf_map the
// program may only read): writing through it is refused.
#include "mim_common.h"

SEC("xdp")
int mim_deref_inner_map(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u32 *v = bpf_map_lookup_elem(&outer, &k);
	if (!v)
		return XDP_PASS;
	*v = 1;
	return XDP_PASS;
}
