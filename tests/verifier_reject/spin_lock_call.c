// Calls a helper while holding a bpf_spin_lock.
#include "spin_common.h"

SEC("xdp")
int spin_lock_call(struct xdp_md *ctx)
{
	LOCKED_VALUE(v);
	bpf_spin_lock(&v->lock);
	v->packets = bpf_ktime_get_ns();
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
