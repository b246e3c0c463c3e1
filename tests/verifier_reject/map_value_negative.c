// A signed index checked only from above: it may be negative.
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} table SEC(".maps");

SEC("xdp")
int map_value_negative(struct xdp_md *ctx)
{
	__u32 key = 0;
	int idx = (int)ctx->rx_queue_index - 4;
	__u64 *s = bpf_map_lookup_elem(&table, &key);
	if (!s || idx >= 8)
		return XDP_PASS;
	return s[idx] ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
