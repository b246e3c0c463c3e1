// next() on stack bytes no bpf_iter_num_new() initialised.
#include "iter_common.h"
SEC("xdp") int iter_next_uninit(struct xdp_md *ctx)
{
	struct bpf_iter_num it; int n = 0;
	while (bpf_iter_num_next(&it))
		n++;
	bpf_iter_num_destroy(&it);
	return n;
}
