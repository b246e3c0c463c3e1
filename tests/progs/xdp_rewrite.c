// Reflect IPv4/UDP packets: swap MACs, IPs and ports, fix the IP checksum
// with bpf_csum_diff, and send back with XDP_TX.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

static __always_inline __u16 csum_fold(__u32 csum)
{
	csum = (csum & 0xffff) + (csum >> 16);
	csum = (csum & 0xffff) + (csum >> 16);
	return (__u16)~csum;
}

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	unsigned char tmp_mac[ETH_ALEN];
	__u32 tmp_ip, old_ttl, new_ttl;
	__u16 tmp_port;
	__s64 diff;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;

	__builtin_memcpy(tmp_mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp_mac, ETH_ALEN);

	tmp_ip = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = tmp_ip;
	tmp_port = udp->source;
	udp->source = udp->dest;
	udp->dest = tmp_port;

	/* decrement TTL and update the checksum incrementally */
	old_ttl = *(__u32 *)&ip->ttl & bpf_htonl(0xffff0000);
	ip->ttl = 64;
	new_ttl = *(__u32 *)&ip->ttl & bpf_htonl(0xffff0000);
	diff = bpf_csum_diff(&old_ttl, 4, &new_ttl, 4, (__u16)~ip->check);
	if (diff < 0)
		return XDP_ABORTED;
	ip->check = csum_fold((__u32)diff);
	udp->check = 0;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
