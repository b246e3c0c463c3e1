// Releases a bpf_spin_lock it never took.
#include "spin_common.h"

SEC("xdp")
int spin_unlock_unlocked(struct xdp_md *ctx)
{
	LOCKED_VALUE(v);
	v->packets++;
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
