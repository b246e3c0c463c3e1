// Returning from the program with the RCU read lock held on one path.
#include "rcu_common.h"
SEC("xdp") int rcu_exit_locked(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	bpf_rcu_read_lock();
	if (data + 1 <= end && *(__u8 *)data == 7)
		return XDP_DROP;
	bpf_rcu_read_unlock();
	return XDP_PASS;
}
