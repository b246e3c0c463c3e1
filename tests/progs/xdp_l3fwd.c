// A tiny IPv4 router: skip up to 3 VLAN tags in a real (not unrolled)
// bounded loop, decrement the TTL with an incremental checksum update
// (RFC 1624, like the kernel's ip_decrease_ttl), optionally DNAT the
// destination (IP and TCP/UDP checksums fixed with bpf_csum_diff), rewrite
// MACs from a route table and XDP_TX.  Per-destination stats in an LRU hash.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8
#define MAX_VLANS 3

struct vlan_hdr_ {
	__be16 tci;
	__be16 proto;
};

struct route {
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
	__be32 new_daddr;     /* 0: no DNAT */
};

struct dst_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, struct route);
	__uint(max_entries, 64);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __be32);
	__type(value, struct dst_stats);
	__uint(max_entries, 128);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} reasons SEC(".maps");

enum { R_NOT_IP, R_SHORT, R_FRAG, R_TTL, R_NO_ROUTE, R_FWD, R_NAT };

static __always_inline int bump(__u32 reason, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&reasons, &reason);
	if (c)
		*c += 1;
	return verdict;
}

static __always_inline __u16 fold(__s64 sum)
{
	__u32 s = (__u32)sum;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

SEC("xdp")
int xdp_l3fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct route *rt;
	struct dst_stats *st, fresh = {};
	__u16 proto;
	__u32 off = sizeof(*eth), check;
	__be32 old_daddr, key;
	int i;

	if ((void *)(eth + 1) > data_end)
		return bump(R_SHORT, XDP_DROP);
	proto = eth->h_proto;
#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_VLANS; i++) {
		struct vlan_hdr_ *vh;

		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		vh = data + off;
		if ((void *)(vh + 1) > data_end)
			return bump(R_SHORT, XDP_DROP);
		proto = vh->proto;
		off += sizeof(*vh);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return bump(R_NOT_IP, XDP_PASS);
	if (off > 14 + MAX_VLANS * 4)
		return XDP_ABORTED;
	ip = data + off;
	if ((void *)(ip + 1) > data_end)
		return bump(R_SHORT, XDP_DROP);
	if (ip->ihl != 5)
		return bump(R_SHORT, XDP_PASS);
	if (ip->frag_off & bpf_htons(0x3fff))
		return bump(R_FRAG, XDP_DROP);
	if (ip->ttl <= 1)
		return bump(R_TTL, XDP_PASS);
	key = ip->daddr;
	rt = bpf_map_lookup_elem(&routes, &key);
	if (!rt)
		return bump(R_NO_ROUTE, XDP_PASS);

	/* ttl--, checksum += 0x0100 (one's complement, RFC 1624) */
	check = ip->check;
	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xFFFF));
	ip->ttl--;

	st = bpf_map_lookup_elem(&stats, &key);
	if (!st) {
		bpf_map_update_elem(&stats, &key, &fresh, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&stats, &key);
	}
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, data_end - data);
	}

	__builtin_memcpy(eth->h_dest, rt->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, rt->smac, ETH_ALEN);
	if (!rt->new_daddr)
		return bump(R_FWD, XDP_TX);

	old_daddr = ip->daddr;
	ip->daddr = rt->new_daddr;
	{
		__s64 d = bpf_csum_diff(&old_daddr, 4, &ip->daddr, 4, (__u16)~ip->check);
		if (d < 0)
			return XDP_ABORTED;
		ip->check = fold(d);
	}
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)(ip + 1);
		if ((void *)(tcp + 1) > data_end)
			return bump(R_SHORT, XDP_DROP);
		__s64 d = bpf_csum_diff(&old_daddr, 4, &ip->daddr, 4, (__u16)~tcp->check);
		if (d < 0)
			return XDP_ABORTED;
		tcp->check = fold(d);
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)(ip + 1);
		if ((void *)(udp + 1) > data_end)
			return bump(R_SHORT, XDP_DROP);
		if (udp->check) {
			__s64 d = bpf_csum_diff(&old_daddr, 4, &ip->daddr, 4, (__u16)~udp->check);
			if (d < 0)
				return XDP_ABORTED;
			udp->check = fold(d) ?: 0xffff;
		}
	}
	return bump(R_NAT, XDP_TX);
}

char _license[] SEC("license") = "GPL";
