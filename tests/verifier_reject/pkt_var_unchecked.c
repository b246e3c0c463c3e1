// Variable packet offset (IP header length) used without a new bounds check.
#include "common.h"

SEC("xdp")
int pkt_var_unchecked(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	unsigned char *l4 = (unsigned char *)ip + ip->ihl * 4;
	return l4[0] == 0 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
