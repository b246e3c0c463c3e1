/* 32-bit arithmetic-heavy parsing: IPv4 header checksum recomputed in u32
 * halves, length fields compared in 32-bit, TTL decremented with an
 * incremental checksum update. */
#include "common.h"

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return ~s & 0xffff;
}

SEC("xdp")
int parse32(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u32 sum = 0, pkt_len = ctx->data_end - ctx->data;

	if ((void *)(ip + 1) > end || ip->ihl != 5)
		return XDP_PASS;
	__u16 *w = (__u16 *)ip;
	for (int i = 0; i < 10; i++)
		if (i != 5)
			sum += w[i];
	if (fold(sum) != ip->check)
		return XDP_DROP;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (tot + sizeof(struct ethhdr) > pkt_len || tot < 20)
		return XDP_DROP;
	if (ip->ttl <= 1)
		return XDP_DROP;
	ip->ttl--;
	__u32 c = (__u32)(__u16)~ip->check + 0xfeff;   /* - 0x0100 in ones' complement (ttl is the high byte) */
	ip->check = ~fold(~c) & 0xffff;
	return XDP_TX;
}
