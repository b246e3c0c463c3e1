// An iterator must live on the stack, not in a map value.
#include "iter_common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct bpf_iter_num);
	 __uint(max_entries, 1); } iters SEC(".maps");
SEC("xdp") int iter_not_stack(struct xdp_md *ctx)
{
	__u32 k = 0; struct bpf_iter_num *it = bpf_map_lookup_elem(&iters, &k);
	if (!it)
		return 0;
	bpf_iter_num_new(it, 0, 10);
	bpf_iter_num_destroy(it);
	return 0;
}
