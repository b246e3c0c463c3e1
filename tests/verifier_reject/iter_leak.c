// An iterator that is never destroyed: its reference leaks at exit.
#include "iter_common.h"
SEC("xdp") int iter_leak(struct xdp_md *ctx)
{
	struct bpf_iter_num it; int n = 0;
	bpf_iter_num_new(&it, 0, 10);
	while (bpf_iter_num_next(&it))
		n++;
	return n;
}
