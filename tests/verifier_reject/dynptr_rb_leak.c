// A ringbuf dynptr neither submitted nor discarded (even a failed reserve must be).
#include "dynptr_rb_common.h"
SEC("xdp")
int dynptr_rb_leak(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	if (bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &d))
		return XDP_DROP;
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}
