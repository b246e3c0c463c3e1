// bpf_dynptr_read into a buffer too small for the length it is given.
#include "dynptr_rb_common.h"
SEC("xdp")
int dynptr_rb_read_small(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	__u32 small = 0;
	long e;
	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &d);
	e = bpf_dynptr_read(&small, 8, &d, 0, 0);
	bpf_ringbuf_discard_dynptr(&d, 0);
	return e ? XDP_DROP : XDP_PASS;
}
