// Programs may only look up an array of maps; storing into it is for user space.
#include "mim_common.h"

SEC("xdp")
int mim_update_outer(struct xdp_md *ctx)
{
	__u32 k = 1, v = 0;
	bpf_map_update_elem(&outer, &k, &v, BPF_ANY);
	return XDP_PASS;
}
