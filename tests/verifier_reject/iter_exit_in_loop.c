// Leaving the loop by returning early leaks the iterator on that path.
#include "iter_common.h"
SEC("xdp") int iter_exit_in_loop(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct bpf_iter_num it; int *v;
	bpf_iter_num_new(&it, 0, 10);
	while ((v = bpf_iter_num_next(&it))) {
		if (data + 1 > end)
			return XDP_DROP;
	}
	bpf_iter_num_destroy(&it);
	return XDP_PASS;
}
