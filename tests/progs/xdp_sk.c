// Socket lookups from XDP (bpf_sk_lookup_tcp/udp, bpf_skc_lookup_tcp,
// bpf_sk_release): the tuple comes from the packet (as in the kernel's
// test_sk_lookup_kern and xdp_synproxy), the helper and its odd arguments
// (tuple length, netns id, flags) from a config map; every lookup records
// whether it found a socket and the struct bpf_sock fields it read.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RECORDS 64

struct cfg {
	__u32 helper;      /* 0 sk_lookup_tcp, 1 sk_lookup_udp, 2 skc_lookup_tcp, 3 by the packet's protocol */
	__u32 len;         /* 0: the tuple's size for the family */
	__u32 netns;       /* BPF_F_CURRENT_NETNS unless set */
	__u32 use_netns;
	__u64 flags;
};

struct rec {
	__u32 found, family, type, protocol, state, src_ip4, src_port, dst_port, dst_ip4, bound_dev_if, mark, rxq;
	__u32 src_ip6[4], dst_ip6[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} sk_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RECORDS);
	__type(key, __u32);
	__type(value, struct rec);
} sk_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sk_count SEC(".maps");

/* the tuple of the packet; 0 when it is not TCP/UDP over IPv4/IPv6 */
static __always_inline __u32 tuple_of(struct xdp_md *ctx, struct bpf_sock_tuple *t, __u8 *proto)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		struct udphdr *l4 = (void *)(iph + 1);   /* ports sit alike in TCP and UDP */
		if ((void *)(l4 + 1) > data_end)
			return 0;
		t->ipv4.saddr = iph->saddr;
		t->ipv4.daddr = iph->daddr;
		t->ipv4.sport = l4->source;
		t->ipv4.dport = l4->dest;
		*proto = iph->protocol;
		return sizeof(t->ipv4);
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);
		struct udphdr *l4 = (void *)(ip6h + 1);
		if ((void *)(l4 + 1) > data_end)
			return 0;
		__builtin_memcpy(t->ipv6.saddr, &ip6h->saddr, 16);
		__builtin_memcpy(t->ipv6.daddr, &ip6h->daddr, 16);
		t->ipv6.sport = l4->source;
		t->ipv6.dport = l4->dest;
		*proto = ip6h->nexthdr;
		return sizeof(t->ipv6);
	}
	return 0;
}

static __always_inline struct rec *next_rec(void)
{
	__u32 zero = 0, slot, *n = bpf_map_lookup_elem(&sk_count, &zero);
	slot = n ? (*n)++ % MAX_RECORDS : 0;
	return bpf_map_lookup_elem(&sk_recs, &slot);
}

/* full sockets: bpf_sk_lookup_tcp, or _udp (cfg.helper 1, or 3 and a UDP packet) */
SEC("xdp")
int xdp_sk(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	__u32 zero = 0, len;
	struct cfg *c = bpf_map_lookup_elem(&sk_cfg, &zero);
	struct bpf_sock *sk;
	struct rec *r;
	__u8 proto = 0;

	if (!c || !(len = tuple_of(ctx, &t, &proto)))
		return XDP_PASS;
	if (c->len)
		len = c->len > sizeof(t) ? sizeof(t) : c->len;
	if (c->helper == 1 || (c->helper == 3 && proto == IPPROTO_UDP))
		sk = bpf_sk_lookup_udp(ctx, &t, len, c->use_netns ? c->netns : BPF_F_CURRENT_NETNS, c->flags);
	else
		sk = bpf_sk_lookup_tcp(ctx, &t, len, c->use_netns ? c->netns : BPF_F_CURRENT_NETNS, c->flags);
	r = next_rec();
	if (!sk)
		return XDP_PASS;
	if (r) {
		r->found = 1;
		r->family = sk->family;
		r->type = sk->type;
		r->protocol = sk->protocol;
		r->state = sk->state;
		r->src_ip4 = sk->src_ip4;
		r->src_port = sk->src_port;
		r->dst_port = sk->dst_port;
		r->dst_ip4 = sk->dst_ip4;
		r->bound_dev_if = sk->bound_dev_if;
		r->mark = sk->mark;
		__builtin_memcpy(r->src_ip6, sk->src_ip6, 16);
		__builtin_memcpy(r->dst_ip6, sk->dst_ip6, 16);
	}
	bpf_sk_release(sk);
	return XDP_TX;
}

/* sock_common: bpf_skc_lookup_tcp (request and time-wait sockets too) */
SEC("xdp")
int xdp_skc(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	__u32 zero = 0, len;
	struct cfg *c = bpf_map_lookup_elem(&sk_cfg, &zero);
	struct bpf_sock *sk;
	struct rec *r;
	__u8 proto = 0;

	if (!c || !(len = tuple_of(ctx, &t, &proto)))
		return XDP_PASS;
	if (c->len)
		len = c->len > sizeof(t) ? sizeof(t) : c->len;
	sk = bpf_skc_lookup_tcp(ctx, &t, len, c->use_netns ? c->netns : BPF_F_CURRENT_NETNS, c->flags);
	r = next_rec();
	if (!sk)
		return XDP_PASS;
	if (r) {
		r->found = 1;
		r->family = sk->family;
		r->state = sk->state;
		r->src_ip4 = sk->src_ip4;
		r->src_port = sk->src_port;
		r->dst_port = sk->dst_port;
		r->dst_ip4 = sk->dst_ip4;
		r->bound_dev_if = sk->bound_dev_if;
		/* an IPv4 time-wait socket's v6 fields are not initialised in the kernel */
		if (r->family == 10) {
			__builtin_memcpy(r->src_ip6, sk->src_ip6, 16);
			__builtin_memcpy(r->dst_ip6, sk->dst_ip6, 16);
		}
	}
	bpf_sk_release(sk);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
