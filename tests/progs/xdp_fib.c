// An XDP router on bpf_fib_lookup (as xdp-tools' xdp-forward and the
// kernel's samples/bpf/xdp_fwd do): parse IPv4/IPv6, look the destination
// up with the flags from a config map, and on success decrement the TTL /
// hop limit, rewrite the MACs and redirect to the egress device. Every
// lookup's return code and the struct bpf_fib_lookup the helper left are
// recorded per packet, so a test compares the whole output, not just the
// verdict. A second program exercises bpf_check_mtu the same way.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define MAX_RECORDS 64

struct cfg {
	__u32 flags;       /* BPF_FIB_LOOKUP_* */
	__u32 ifindex;     /* 0: ctx->ingress_ifindex */
	__u32 tbid;        /* with BPF_FIB_LOOKUP_TBID */
	__u32 mark;        /* with BPF_FIB_LOOKUP_MARK */
	__u32 plen;        /* 0: sizeof(struct bpf_fib_lookup) */
	__u32 no_tot_len;  /* 1: leave tot_len 0 (no MTU check) */
};

struct rec {
	__s64 ret;
	__u8 params[64];
};

struct mtu_cfg {
	__u32 ifindex;
	__u32 mtu_len;
	__s32 len_diff;
	__u32 pad;
	__u64 flags;
};

struct mtu_rec {
	__s64 ret;
	__u32 mtu_len;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} fib_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RECORDS);
	__type(key, __u32);
	__type(value, struct rec);
} fib_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mtu_cfg);
} mtu_cfgs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RECORDS);
	__type(key, __u32);
	__type(value, struct mtu_rec);
} mtu_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} counters SEC(".maps");

static __always_inline __u32 next_slot(__u32 which)
{
	__u32 *n = bpf_map_lookup_elem(&counters, &which), i;
	if (!n)
		return 0;
	i = *n;
	*n = i + 1;
	return i % MAX_RECORDS;
}

/* ip_decrease_ttl: incremental checksum update (RFC 1624) */
static __always_inline void ttl_dec(struct iphdr *iph)
{
	__u32 check = iph->check;
	check += bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xFFFF));
	iph->ttl--;
}

SEC("xdp")
int xdp_router(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup fib = {};
	__u32 zero = 0, slot, plen;
	struct cfg *c = bpf_map_lookup_elem(&fib_cfg, &zero);
	struct iphdr *iph = 0;
	struct ipv6hdr *ip6h = 0;
	struct rec *r;
	long ret;

	if (!c || (void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		iph = (void *)(eth + 1);
		if ((void *)(iph + 1) > data_end)
			return XDP_PASS;
		if (iph->ttl <= 1)
			return XDP_PASS;
		fib.family = AF_INET;
		fib.tos = iph->tos;
		fib.l4_protocol = iph->protocol;
		fib.tot_len = bpf_ntohs(iph->tot_len);
		fib.ipv4_src = iph->saddr;
		fib.ipv4_dst = iph->daddr;
		if ((iph->protocol == IPPROTO_UDP || iph->protocol == IPPROTO_TCP) && iph->ihl == 5) {
			__be16 *ports = (void *)(iph + 1);     /* the multipath hash of policy 1/3 reads them */

			if ((void *)(ports + 2) <= data_end) {
				fib.sport = ports[0];
				fib.dport = ports[1];
			}
		}
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6h = (void *)(eth + 1);
		if ((void *)(ip6h + 1) > data_end)
			return XDP_PASS;
		if (ip6h->hop_limit <= 1)
			return XDP_PASS;
		fib.family = AF_INET6;
		fib.flowinfo = *(__be32 *)ip6h & bpf_htonl(0x0FFFFFFF);
		fib.l4_protocol = ip6h->nexthdr;
		fib.tot_len = bpf_ntohs(ip6h->payload_len) + sizeof(*ip6h);
		__builtin_memcpy(fib.ipv6_src, &ip6h->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, &ip6h->daddr, 16);
	} else {
		return XDP_PASS;
	}
	if (c->no_tot_len)
		fib.tot_len = 0;
	fib.ifindex = c->ifindex ? c->ifindex : ctx->ingress_ifindex;
	if (c->flags & BPF_FIB_LOOKUP_TBID)
		fib.tbid = c->tbid;
	if (c->flags & (1U << 5))          /* BPF_FIB_LOOKUP_MARK (newer than these headers) */
		*(__u32 *)fib.smac = c->mark;
	plen = c->plen ? c->plen : sizeof(fib);
	if (plen > sizeof(fib))
		plen = sizeof(fib);
	ret = bpf_fib_lookup(ctx, &fib, plen, c->flags);

	slot = next_slot(0);
	r = bpf_map_lookup_elem(&fib_recs, &slot);
	if (r) {
		r->ret = ret;
		__builtin_memcpy(r->params, &fib, sizeof(fib));
	}
	switch (ret) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return XDP_DROP;
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return XDP_ABORTED;
	default:
		return XDP_PASS;
	}
	if (iph)
		ttl_dec(iph);
	else if (ip6h)
		ip6h->hop_limit--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(fib.ifindex, 0);
}

SEC("xdp")
int xdp_mtu(struct xdp_md *ctx)
{
	__u32 zero = 0, slot, mtu_len;
	struct mtu_cfg *c = bpf_map_lookup_elem(&mtu_cfgs, &zero);
	struct mtu_rec *r;
	long ret;

	if (!c)
		return XDP_ABORTED;
	mtu_len = c->mtu_len;
	ret = bpf_check_mtu(ctx, c->ifindex, &mtu_len, c->len_diff, c->flags);
	slot = next_slot(1);
	r = bpf_map_lookup_elem(&mtu_recs, &slot);
	if (r) {
		r->ret = ret;
		r->mtu_len = mtu_len;
	}
	return ret == BPF_MTU_CHK_RET_SUCCESS ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
