// The socket casts (bpf_skc_to_tcp6_sock, _tcp_sock, _tcp_timewait_sock,
// _tcp_request_sock, _udp6_sock, _unix_sock) of a looked-up socket: the
// socket comes from the packet's tuple (helper chosen by the config map, as
// in xdp_sk.c), each cast's NULL-or-not is one bit of the record, a cast of
// a cast is one more, and the socket is released through a cast when one
// succeeded (the cast shares the lookup's reference).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RECORDS 64

struct cfg {
	__u32 helper;      /* 0 sk_lookup_tcp, 1 sk_lookup_udp, 2 skc_lookup_tcp */
	__u32 len, netns, use_netns;
	__u64 flags;
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
	__type(value, __u32);
} cast_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cast_count SEC(".maps");

static __always_inline __u32 tuple_of(struct xdp_md *ctx, struct bpf_sock_tuple *t)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		struct udphdr *l4 = (void *)(iph + 1);
		if ((void *)(l4 + 1) > data_end)
			return 0;
		t->ipv4.saddr = iph->saddr;
		t->ipv4.daddr = iph->daddr;
		t->ipv4.sport = l4->source;
		t->ipv4.dport = l4->dest;
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
		return sizeof(t->ipv6);
	}
	return 0;
}

SEC("xdp")
int xdp_sk_cast(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	__u32 zero = 0, len, bits = 1, slot, *n, *rec;
	struct cfg *c = bpf_map_lookup_elem(&sk_cfg, &zero);
	struct bpf_sock *sk;
	struct tcp_sock *tp;
	struct tcp6_sock *tp6;

	if (!c || !(len = tuple_of(ctx, &t)))
		return XDP_PASS;
	if (c->helper == 1)
		sk = bpf_sk_lookup_udp(ctx, &t, len, BPF_F_CURRENT_NETNS, 0);
	else if (c->helper == 2)
		sk = bpf_skc_lookup_tcp(ctx, &t, len, BPF_F_CURRENT_NETNS, 0);
	else
		sk = bpf_sk_lookup_tcp(ctx, &t, len, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return XDP_PASS;
	if (bpf_skc_to_tcp6_sock(sk))
		bits |= 1 << 1;
	tp = bpf_skc_to_tcp_sock(sk);
	if (tp) {
		bits |= 1 << 2;
		tp6 = bpf_skc_to_tcp6_sock(tp);       /* a cast of a cast */
		if (tp6)
			bits |= 1 << 3;
	}
	if (bpf_skc_to_tcp_timewait_sock(sk))
		bits |= 1 << 4;
	if (bpf_skc_to_tcp_request_sock(sk))
		bits |= 1 << 5;
	if (bpf_skc_to_udp6_sock(sk))
		bits |= 1 << 6;
	if (bpf_skc_to_unix_sock(sk))
		bits |= 1 << 7;
	n = bpf_map_lookup_elem(&cast_count, &zero);
	slot = n ? (*n)++ % MAX_RECORDS : 0;
	rec = bpf_map_lookup_elem(&cast_recs, &slot);
	if (rec)
		*rec = bits;
	if (tp)
		bpf_sk_release(tp);
	else
		bpf_sk_release(sk);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
