// The inner map of an array of maps is a map pointer: no arithmetic on it.
#include "mim_common.h"
SEC("xdp")
int mim_inner_ptr_arith(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (!m)
		return XDP_PASS;
	m += 8;
	return bpf_map_lookup_elem(m, &k) ? XDP_DROP : XDP_PASS;
}
