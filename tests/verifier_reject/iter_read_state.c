// Reading the iterator's opaque bytes directly.
#include "iter_common.h"
SEC("xdp") int iter_read_state(struct xdp_md *ctx)
{
	struct bpf_iter_num it; __u64 x;
	bpf_iter_num_new(&it, 0, 10);
	x = *(volatile __u64 *)&it;
	bpf_iter_num_destroy(&it);
	return x;
}
