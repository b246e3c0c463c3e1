// A ring buffer cannot be iterated.
#include "foreach_common.h"
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } fe_rb SEC(".maps");
static long cb(struct bpf_map *m, __u32 *k, __u64 *v, void *c) { return 0; }
SEC("xdp") int foreach_ringbuf(struct xdp_md *ctx)
{
	return bpf_for_each_map_elem(&fe_rb, cb, NULL, 0);
}
