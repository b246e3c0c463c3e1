// bpf_ringbuf_reserve_dynptr on a map that is not a ring buffer.
#include "common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} m SEC(".maps");
SEC("xdp")
int dynptr_rb_wrong_map(struct xdp_md *ctx) {
	struct bpf_dynptr d;
	bpf_ringbuf_reserve_dynptr(&m, 8, 0, &d);
	bpf_ringbuf_discard_dynptr(&d, 0);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
