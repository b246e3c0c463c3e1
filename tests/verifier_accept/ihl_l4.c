/* IPv4 with options: the L4 header sits at a variable offset (ihl * 4),
 * bounds-checked before the ports are read and rewritten. */
#include "common.h"

SEC("xdp")
int ihl_l4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp;
	__u32 ihl;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return XDP_DROP;
	udp = (void *)ip + ihl;
	if ((void *)(udp + 1) > end)
		return XDP_DROP;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	__u16 sport = udp->source;
	udp->source = udp->dest;
	udp->dest = sport;
	return bpf_ntohs(sport) < 1024 ? XDP_TX : XDP_PASS;
}
