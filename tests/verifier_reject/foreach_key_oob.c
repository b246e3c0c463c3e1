// Reading past the key's size.
#include "foreach_common.h"
static long cb(struct bpf_map *m, __u32 *k, __u64 *v, __u64 *c) { *c += ((volatile __u32 *)k)[1]; return 0; }
SEC("xdp") int foreach_key_oob(struct xdp_md *ctx)
{
	__u64 s = 0;
	bpf_for_each_map_elem(&fe_h, cb, &s, 0);
	return s;
}
