// The element's value is unknown to the verifier unless the loop bounds-checks it.
#include "iter_common.h"
SEC("xdp") int iter_elem_unbounded(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct bpf_iter_num it; int *v, s = 0;
	if (data + 64 > end)
		return 0;
	bpf_iter_num_new(&it, 0, 64);
	while ((v = bpf_iter_num_next(&it)))
		s += data[*v];
	bpf_iter_num_destroy(&it);
	return s;
}
