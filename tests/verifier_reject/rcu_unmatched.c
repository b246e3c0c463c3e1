// bpf_rcu_read_unlock on a path that never took the lock.
#include "rcu_common.h"
SEC("xdp") int rcu_unmatched(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 1 <= end && *(__u8 *)data == 1)
		bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	return XDP_PASS;
}
