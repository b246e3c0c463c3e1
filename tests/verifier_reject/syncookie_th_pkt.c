// The TCP header length handed to bpf_tcp_raw_gen_syncookie_ipv4 must be
// proven inside the packet: 60 bytes from a header only 20 are checked for.
#include "common.h"
#include <linux/tcp.h>

SEC("xdp")
int syncookie_th_pkt(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct iphdr *iph = data + sizeof(struct ethhdr);
	struct tcphdr *th = (void *)(iph + 1);

	if ((void *)(th + 1) > data_end)
		return XDP_PASS;
	return bpf_tcp_raw_gen_syncookie_ipv4(iph, th, 60) > 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
