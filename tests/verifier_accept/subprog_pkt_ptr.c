/* Packet pointers passed to a static __noinline function, which does its
 * own bounds checks against the data_end it was given. */
#include "common.h"

static __noinline int l3_proto(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > end)
		return -1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	return ip->protocol;
}

static __noinline void stamp(unsigned char *p, void *end, int v)
{
	if ((void *)(p + 2) <= end) {
		p[0] = v;
		p[1] = v >> 8;
	}
}

SEC("xdp")
int subprog_pkt(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	int proto = l3_proto(data, end);

	if (proto < 0)
		return XDP_DROP;
	stamp(data, end, proto + 0x100);
	return proto == IPPROTO_TCP ? XDP_TX : XDP_PASS;
}
