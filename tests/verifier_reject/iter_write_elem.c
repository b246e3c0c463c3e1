// The element next() returns is read-only.
#include "iter_common.h"
SEC("xdp") int iter_write_elem(struct xdp_md *ctx)
{
	struct bpf_iter_num it; int *v, n = 0;
	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it))) {
		*(volatile int *)v = 3;
		n++;
	}
	bpf_iter_num_destroy(&it);
	return n;
}
