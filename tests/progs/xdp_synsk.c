// bpf_tcp_gen_syncookie / bpf_tcp_check_syncookie on a listener found by
// bpf_skc_lookup_tcp (as the kernel's test_tcp_check_syncookie_kern does):
// a SYN gets a cookie, and the ACK a client would answer with (built on the
// stack from the SYN) is checked; any other segment is checked as it is.
// The cookie's value is the secret's (dataplane's differs from the
// kernel's): the results keep its MSS half and every error, by value.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "slots.h"

RESULT_SLOTS(syn_res, 64)

struct cfg {
	__u32 th_len_delta;    /* added to the TCP header length the helpers are given */
	__u32 iph_len;         /* 0: the header's own; else at most 40 */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} syn_cfg SEC(".maps");

/* errno -> slot: 0 ok, 1 ENOENT, 2 EINVAL, 3 EPROTONOSUPPORT, 4 other */
static __always_inline __u32 err_slot(long e)
{
	return e >= 0 ? 0 : e == -2 ? 1 : e == -22 ? 2 : e == -93 ? 3 : 4;
}

/* a length of 1..64 as the verifier can see it (the callers checked it) */
static __always_inline __u64 len64(__u64 v)
{
	asm volatile("" : "+r"(v));
	return ((v - 1) & 0x3f) + 1;
}

SEC("xdp")
int xdp_synsk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_sock_tuple t = {};
	__u8 ib[64], tb[64];      /* the headers, copied: the helpers take their lengths as given */
	struct tcphdr *th = (void *)tb, ack;
	__u32 zero = 0, tlen, l4;
	__u64 iph_len, thl;
	struct cfg *c = bpf_map_lookup_elem(&syn_cfg, &zero);
	struct bpf_sock *sk;
	long g, k;

	if (!c || (void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip4 = (void *)(eth + 1);
		if ((void *)(ip4 + 1) > end || ip4->ihl != 5 || ip4->protocol != IPPROTO_TCP)
			return XDP_PASS;
		iph_len = sizeof(*ip4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		iph_len = sizeof(*ip6);
	} else {
		return XDP_PASS;
	}
	l4 = sizeof(*eth) + iph_len;
	if (bpf_xdp_load_bytes(ctx, sizeof(*eth), ib, sizeof(ib)) || bpf_xdp_load_bytes(ctx, l4, tb, sizeof(tb)))
		return XDP_PASS;           /* the tests' packets carry a payload: 64 bytes past any header */
	if (iph_len == 20) {
		struct iphdr *ip4 = (void *)ib;
		t.ipv4.saddr = ip4->saddr;
		t.ipv4.daddr = ip4->daddr;
		t.ipv4.sport = th->source;
		t.ipv4.dport = th->dest;
		tlen = sizeof(t.ipv4);
	} else {
		struct ipv6hdr *ip6 = (void *)ib;
		__builtin_memcpy(t.ipv6.saddr, &ip6->saddr, 16);
		__builtin_memcpy(t.ipv6.daddr, &ip6->daddr, 16);
		t.ipv6.sport = th->source;
		t.ipv6.dport = th->dest;
		tlen = sizeof(t.ipv6);
	}
	thl = th->doff * 4 + c->th_len_delta;
	if (c->iph_len)
		iph_len = c->iph_len;
	if (thl > 60 || !thl || iph_len > 40 || !iph_len)
		return XDP_PASS;
	sk = bpf_skc_lookup_tcp(ctx, &t, tlen, BPF_F_CURRENT_NETNS, 0);
	if (!sk)
		return XDP_PASS;
	if (th->syn && !th->ack) {
		g = bpf_tcp_gen_syncookie(sk, ib, len64(iph_len), th, len64(thl));
		syn_res_add(err_slot(g), 1);
		if (g < 0) {
			syn_res_add(10, -g);
		} else {
			syn_res_add(11, g >> 32);                  /* the MSS the cookie encodes */
			__builtin_memcpy(&ack, th, sizeof(ack));  /* the client's answer */
			ack.syn = 0;
			ack.ack = 1;
			ack.doff = 5;
			ack.seq = bpf_htonl(bpf_ntohl(th->seq) + 1);
			ack.ack_seq = bpf_htonl((__u32)g + 1);
			k = bpf_tcp_check_syncookie(sk, ib, len64(iph_len), &ack, sizeof(ack));
			syn_res_add(20 + err_slot(k), 1);
			ack.ack_seq = bpf_htonl((__u32)g + 2);    /* the next cookie: another MSS index, or none */
			k = bpf_tcp_check_syncookie(sk, ib, len64(iph_len), &ack, sizeof(ack));
			syn_res_add(25 + err_slot(k), 1);
			ack.ack_seq = bpf_htonl((__u32)g + 1 + 0x40000000);   /* a cookie of another minute */
			k = bpf_tcp_check_syncookie(sk, ib, len64(iph_len), &ack, sizeof(ack));
			syn_res_add(40 + err_slot(k), 1);
		}
	} else {
		k = bpf_tcp_check_syncookie(sk, ib, len64(iph_len), th, len64(thl));
		syn_res_add(30 + err_slot(k), 1);
	}
	bpf_sk_release(sk);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
