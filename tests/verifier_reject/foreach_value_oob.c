// Writing past the value's size.
#include "foreach_common.h"
static long cb(struct bpf_map *m, __u32 *k, __u64 *v, void *c) { ((volatile __u64 *)v)[1] = 0; return 0; }
SEC("xdp") int foreach_value_oob(struct xdp_md *ctx)
{
	return bpf_for_each_map_elem(&fe_h, cb, NULL, 0);
}
