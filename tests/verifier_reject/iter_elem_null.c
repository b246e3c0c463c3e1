// The element is read without checking next() for NULL.
#include "iter_common.h"
SEC("xdp") int iter_elem_null(struct xdp_md *ctx)
{
	struct bpf_iter_num it; int x;
	bpf_iter_num_new(&it, 0, 10);
	x = *(volatile int *)bpf_iter_num_next(&it);
	bpf_iter_num_destroy(&it);
	return x;
}
