// A dynptr lives on the stack: a map value is no place for one.
#include "dynptr_common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, struct bpf_dynptr); __uint(max_entries, 1); } dyn_store SEC(".maps");
SEC("xdp") int dynptr_in_map(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct bpf_dynptr *d = bpf_map_lookup_elem(&dyn_store, &k);
	if (!d) return XDP_PASS;
	bpf_dynptr_from_xdp(ctx, 0, d);
	return XDP_PASS;
}
