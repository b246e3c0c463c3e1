// The element pointer dies with its iterator.
#include "iter_common.h"
SEC("xdp") int iter_elem_after_destroy(struct xdp_md *ctx)
{
	struct bpf_iter_num it; int *v;
	bpf_iter_num_new(&it, 0, 10);
	v = bpf_iter_num_next(&it);
	bpf_iter_num_destroy(&it);
	return v ? *(volatile int *)v : 0;
}
