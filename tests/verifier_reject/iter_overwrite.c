// Overwriting the iterator's slot ends it: destroy() then finds none.
#include "iter_common.h"
SEC("xdp") int iter_overwrite(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	bpf_iter_num_new(&it, 0, 10);
	*(volatile __u64 *)&it = 0;
	bpf_iter_num_destroy(&it);
	return 0;
}
