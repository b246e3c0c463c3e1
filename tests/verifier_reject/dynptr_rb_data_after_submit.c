// A bpf_dynptr_data pointer into a record used after the record was submitted.
#include "dynptr_rb_common.h"
SEC("xdp")
int dynptr_rb_data_after_submit(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	__u64 *p;
	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &d);
	p = bpf_dynptr_data(&d, 0, 8);
	bpf_ringbuf_submit_dynptr(&d, 0);
	if (!p) return XDP_PASS;
	*p = 1;
	return XDP_DROP;
}
