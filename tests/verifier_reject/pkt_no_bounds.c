// Reads the Ethernet header without comparing against data_end first.
#include "common.h"

SEC("xdp")
int pkt_no_bounds(struct xdp_md *ctx)
{
	struct ethhdr *eth = (void *)(long)ctx->data;
	return eth->h_proto == bpf_htons(ETH_P_IP) ? XDP_PASS : XDP_DROP;
}
char _license[] SEC("license") = "GPL";
