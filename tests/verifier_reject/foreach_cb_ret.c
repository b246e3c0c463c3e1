// A for_each_map_elem callback must return 0 (go on) or 1 (stop).
#include "foreach_common.h"
static long cb(struct bpf_map *m, __u32 *k, __u64 *v, void *c) { return 2; }
SEC("xdp") int foreach_cb_ret(struct xdp_md *ctx)
{
	return bpf_for_each_map_elem(&fe_h, cb, NULL, 0);
}
