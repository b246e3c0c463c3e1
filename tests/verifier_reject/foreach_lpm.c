// An LPM trie has no for_each callback.
#include "foreach_common.h"
struct lk { __u32 prefixlen; __u32 addr; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __type(key, struct lk); __type(value, __u64);
	 __uint(max_entries, 8); __uint(map_flags, BPF_F_NO_PREALLOC); } fe_lpm SEC(".maps");
static long cb(struct bpf_map *m, struct lk *k, __u64 *v, void *c) { return 0; }
SEC("xdp") int foreach_lpm(struct xdp_md *ctx)
{
	return bpf_for_each_map_elem(&fe_lpm, cb, NULL, 0);
}
