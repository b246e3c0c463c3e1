// A socket cast of something that is not a socket (a map value).
#include "common.h"
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} skcast_m SEC(".maps");
SEC("xdp")
int skcast_map_value(struct xdp_md *ctx) {
	__u32 zero = 0;
	__u64 *v = bpf_map_lookup_elem(&skcast_m, &zero);
	if (!v) return XDP_PASS;
	return bpf_skc_to_udp6_sock(v) ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
