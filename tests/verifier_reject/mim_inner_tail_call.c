// An inner ARRAY is not a PROG_ARRAY: bpf_tail_call refuses it.
#include "mim_common.h"
SEC("xdp")
int mim_inner_tail_call(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *m = bpf_map_lookup_elem(&outer, &k);
	if (!m)
		return XDP_PASS;
	bpf_tail_call(ctx, m, 0);
	return XDP_PASS;
}
