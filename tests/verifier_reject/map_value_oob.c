// Index checked against the wrong bound: 16 slots, index may be 16.
#include "common.h"

struct slots { __u32 v[16]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots);
} table SEC(".maps");

SEC("xdp")
int map_value_oob(struct xdp_md *ctx)
{
	__u32 key = 0, idx = ctx->rx_queue_index;
	struct slots *s = bpf_map_lookup_elem(&table, &key);
	if (!s || idx > 16)
		return XDP_PASS;
	return s->v[idx] ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
