// A second reserve into a dynptr that still holds a record.
#include "dynptr_rb_common.h"
SEC("xdp")
int dynptr_rb_twice(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &d);
	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &d);
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}
