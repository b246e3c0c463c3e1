// One lock, two unlocks: the second has nothing to release.
#include "rcu_common.h"
SEC("xdp") int rcu_unlock_twice(struct xdp_md *ctx)
{
	bpf_rcu_read_lock();
	bpf_rcu_read_unlock();
	bpf_rcu_read_unlock();
	return XDP_PASS;
}
