// A walk inside a walk's callback, whose context counts calls: the kernel
// verifies callbacks as loop bodies, one iteration after another, and gives
// up on this nest (the pending-state stack overflows).
#include "foreach_common.h"
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64);
	 __uint(max_entries, 16); } fe_a SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, __u32); __type(value, __u64);
	 __uint(max_entries, 8); } fe_p SEC(".maps");
struct cctx { __u64 sum; __u64 count; };
static long inner(struct bpf_map *m, __u32 *k, __u64 *v, void *c) { return 0; }
static long outer(struct bpf_map *m, __u32 *k, __u64 *v, struct cctx *c)
{
	c->sum += bpf_for_each_map_elem(&fe_p, inner, NULL, 0) + *v;
	c->count++;
	return c->count >= 3;
}
SEC("xdp") int foreach_nested(struct xdp_md *ctx)
{
	struct cctx c = {};
	bpf_for_each_map_elem(&fe_a, outer, &c, 0);
	return c.sum;
}
