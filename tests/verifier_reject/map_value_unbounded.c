// Index into a map value straight from the packet, never bounds-checked.
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64[8]);
} table SEC(".maps");

SEC("xdp")
int map_value_unbounded(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *s = bpf_map_lookup_elem(&table, &key);
	if (!s)
		return XDP_PASS;
	return s[ctx->ingress_ifindex] ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
