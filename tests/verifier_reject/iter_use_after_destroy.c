// next() after destroy().
#include "iter_common.h"
SEC("xdp") int iter_use_after_destroy(struct xdp_md *ctx)
{
	struct bpf_iter_num it; int *v;
	bpf_iter_num_new(&it, 0, 10);
	bpf_iter_num_destroy(&it);
	v = bpf_iter_num_next(&it);
	return v ? *v : 0;
}
