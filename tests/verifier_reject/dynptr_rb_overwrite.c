// The stack of a reserved ringbuf dynptr written over.
#include "dynptr_rb_common.h"
SEC("xdp")
int dynptr_rb_overwrite(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &d);
	*(volatile __u64 *)&d = 0;
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}
