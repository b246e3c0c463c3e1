// The key a callback gets is read only.
#include "foreach_common.h"
static long cb(struct bpf_map *m, __u32 *k, __u64 *v, void *c) { *(volatile __u32 *)k = 1; return 0; }
SEC("xdp") int foreach_write_key(struct xdp_md *ctx)
{
	return bpf_for_each_map_elem(&fe_h, cb, NULL, 0);
}
