// Writes the bpf_spin_lock word with a plain store.
#include "spin_common.h"

SEC("xdp")
int spin_lock_direct(struct xdp_md *ctx)
{
	LOCKED_VALUE(v);
	*(volatile __u32 *)&v->lock = 0;
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
