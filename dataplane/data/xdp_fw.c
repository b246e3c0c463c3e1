// The sample firewall of configs/default.yaml (`dataplane serve`): parse
// eth/ipv4/ipv6/tcp/udp, LPM-trie source blocklist, hash of blocked
// destination ports, per-verdict counters.  dataplane/data/xdp_fw.o is this
// file compiled by dataplane/service/sample_firewall.py (a test rebuilds and compares).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct lpm_v4_key {
	__u32 prefixlen;
	__u32 addr;
};

struct port_key {
	__u8 proto;
	__u8 pad;
	__u16 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} src_block SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct port_key);
	__type(value, __u8);
	__uint(max_entries, 128);
} port_block SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} verdicts SEC(".maps");

static __always_inline int count(__u32 verdict)
{
	__u64 *c = bpf_map_lookup_elem(&verdicts, &verdict);
	if (c)
		*c += 1;
	return verdict;
}

static __always_inline int check_l4(void *l4, void *data_end, __u8 proto)
{
	struct port_key pk = { .proto = proto };

	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > data_end)
			return XDP_DROP;
		pk.port = tcp->dest;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > data_end)
			return XDP_DROP;
		pk.port = udp->dest;
	} else {
		return XDP_PASS;
	}
	if (bpf_map_lookup_elem(&port_block, &pk))
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return count(XDP_DROP);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		struct lpm_v4_key k;

		if ((void *)(ip + 1) > data_end)
			return count(XDP_DROP);
		if (ip->ihl < 5)
			return count(XDP_DROP);
		k.prefixlen = 32;
		k.addr = ip->saddr;
		if (bpf_map_lookup_elem(&src_block, &k))
			return count(XDP_DROP);
		return count(check_l4((void *)ip + ip->ihl * 4, data_end, ip->protocol));
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return count(XDP_DROP);
		return count(check_l4(ip6 + 1, data_end, ip6->nexthdr));
	}
	return count(XDP_PASS);
}

char _license[] SEC("license") = "GPL";
