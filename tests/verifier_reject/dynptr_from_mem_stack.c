// bpf_dynptr_from_mem over stack memory (only map values may back one).
#include "common.h"
SEC("xdp")
int dynptr_from_mem_stack(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	__u64 buf[2] = {1, 2};
	bpf_dynptr_from_mem(buf, sizeof(buf), 0, &d);
	return bpf_dynptr_read(buf, 8, &d, 8, 0) ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
