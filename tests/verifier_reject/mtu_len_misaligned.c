// bpf_check_mtu's mtu_len must be an aligned u32 (MEM_ALIGNED): a pointer
// one byte into a stack buffer is refused.
#include "common.h"

SEC("xdp")
int mtu_len_misaligned(struct xdp_md *ctx)
{
	__u8 buf[8] = {};

	return bpf_check_mtu(ctx, 0, (__u32 *)(buf + 1), 0, 0) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
