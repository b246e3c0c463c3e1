// Returns on one path while still holding the bpf_spin_lock.
#include "spin_common.h"

SEC("xdp")
int spin_lock_exit(struct xdp_md *ctx)
{
	LOCKED_VALUE(v);
	bpf_spin_lock(&v->lock);
	v->packets++;
	if (v->bytes > 1000)
		return XDP_DROP;
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
