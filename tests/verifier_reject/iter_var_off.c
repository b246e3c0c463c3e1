// An iterator at a variable stack offset.
#include "iter_common.h"
SEC("xdp") int iter_var_off(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct bpf_iter_num its[2];
	if (data + 1 > end)
		return 0;
	struct bpf_iter_num *it = &its[data[0] & 1];
	bpf_iter_num_new(it, 0, 10);
	bpf_iter_num_destroy(it);
	return 0;
}
