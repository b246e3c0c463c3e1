// bpf_redirect_map on a hash map: the helper wants a devmap/xskmap/cpumap.
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

SEC("xdp")
int helper_wrong_map(struct xdp_md *ctx)
{
	return bpf_redirect_map(&ports, ctx->rx_queue_index, XDP_PASS);
}
char _license[] SEC("license") = "GPL";
