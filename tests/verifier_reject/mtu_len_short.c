// bpf_check_mtu writes 4 bytes at mtu_len: two bytes from the frame's top
// are not enough.
#include "common.h"

SEC("xdp")
int mtu_len_short(struct xdp_md *ctx)
{
	__u32 pad[2] = {};
	void *top = (void *)pad + 8;

	bpf_check_mtu(ctx, 0, top - 2 + 0 * pad[0], 0, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
