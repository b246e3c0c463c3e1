// The inner map's values are 8 bytes (the template's value size): reading
// past them is out of bounds.
#include "mim_common.h"

SEC("xdp")
int mim_inner_value_oob(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *inner = bpf_map_lookup_elem(&outer, &k);
	if (!inner)
		return XDP_PASS;
	__u32 *v = bpf_map_lookup_elem(inner, &k);
	if (!v)
		return XDP_PASS;
	return v[2];
}
