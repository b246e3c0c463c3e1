// The inner map's value may be NULL like any lookup's.
#include "mim_common.h"
SEC("xdp")
int mim_inner_value_unchecked(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v;
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (!m)
		return XDP_PASS;
	k = ctx->rx_queue_index;
	v = bpf_map_lookup_elem(m, &k);
	return *v;
}
