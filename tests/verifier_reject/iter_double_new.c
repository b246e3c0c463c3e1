// new() twice on the same iterator.
#include "iter_common.h"
SEC("xdp") int iter_double_new(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	bpf_iter_num_new(&it, 0, 10);
	bpf_iter_num_new(&it, 0, 20);
	bpf_iter_num_destroy(&it);
	return 0;
}
