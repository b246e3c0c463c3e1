// The callback context must be on the stack (or NULL), not in a map value.
#include "foreach_common.h"
static long cb(struct bpf_map *m, __u32 *k, __u64 *v, void *c) { return 0; }
SEC("xdp") int foreach_ctx_not_stack(struct xdp_md *ctx)
{
	__u32 key = 0; __u64 *val = bpf_map_lookup_elem(&fe_h, &key);
	if (!val)
		return 0;
	return bpf_for_each_map_elem(&fe_h, cb, val, 0);
}
