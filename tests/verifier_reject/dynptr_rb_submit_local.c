// bpf_ringbuf_submit_dynptr of a local dynptr (nothing was acquired).
#include "dynptr_rb_common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} m SEC(".maps");
SEC("xdp")
int dynptr_rb_submit_local(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&m, &zero);
	if (!v) return XDP_PASS;
	bpf_dynptr_from_mem(v, 8, 0, &d);
	bpf_ringbuf_submit_dynptr(&d, 0);
	return XDP_PASS;
}
