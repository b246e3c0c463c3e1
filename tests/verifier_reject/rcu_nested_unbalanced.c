// Two nested bpf_rcu_read_lock calls and one unlock before the exit.
#include "rcu_common.h"
SEC("xdp") int rcu_nested_unbalanced(struct xdp_md *ctx)
{
	bpf_rcu_read_lock();
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	return XDP_PASS;
}
