// Programs may not delete from an array of maps either.
#include "mim_common.h"
SEC("xdp")
int mim_delete_outer(struct xdp_md *ctx)
{
	__u64 k = 1;
	bpf_map_delete_elem(&outer_hash, &k);
	return XDP_PASS;
}
