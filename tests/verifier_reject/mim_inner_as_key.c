// An inner map pointer is not memory to read a key from.
#include "mim_common.h"
SEC("xdp")
int mim_inner_as_key(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (!m)
		return XDP_PASS;
	return bpf_map_lookup_elem(&inner0, m) ? XDP_DROP : XDP_PASS;
}
