// The raw SYN cookie helpers the way an XDP SYN proxy uses them (the
// kernel's xdp_synproxy selftest): a SYN gets a cookie; the ACK a client
// would send back (seq + 1, ack_seq = cookie + 1) is built on the stack and
// checked, as is one with a wrong cookie. The packet itself is left as it
// came. Recorded per packet: the generator's return value split into the
// MSS (upper 32 bits) and an error (negative), and the checks' results.
// The cookie's own 32 bits depend on a secret and are kept out of the
// maps, except whether the check accepted them.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_RECORDS 32

struct cfg {
	__s32 th_len_delta;    /* added to the real TCP header length */
	__u32 pad;
};

struct rec {
	__s64 gen_err;         /* < 0: the generator's error */
	__u64 mss;             /* upper 32 bits of its value */
	__s64 check_good;      /* the real ACK */
	__s64 check_bad;       /* the ACK with cookie + 1 */
	__s64 check_seq;       /* the ACK with the client's sequence number off by one */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} sc_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RECORDS);
	__type(key, __u32);
	__type(value, struct rec);
} sc_recs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} sc_count SEC(".maps");

/* the generators' full return values, by record slot (secret-dependent:
 * the kernel comparison leaves this map out) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_RECORDS);
	__type(key, __u32);
	__type(value, __u64);
} sc_cookies SEC(".maps");

static __u32 cur_slot;

static __always_inline struct rec *next_rec(void)
{
	__u32 zero = 0, slot, *n = bpf_map_lookup_elem(&sc_count, &zero);
	slot = n ? (*n)++ % MAX_RECORDS : 0;
	cur_slot = slot;
	return bpf_map_lookup_elem(&sc_recs, &slot);
}

static __always_inline void keep(__s64 v)
{
	__u32 slot = cur_slot;
	__u64 *c = bpf_map_lookup_elem(&sc_cookies, &slot);
	if (c)
		*c = v;
}

static __always_inline void ack_of(struct tcphdr *a, const struct tcphdr *syn, __u32 cookie, __u32 delta_ack,
				   __u32 delta_seq)
{
	__builtin_memcpy(a, syn, sizeof(*a));
	a->syn = 0;
	a->ack = 1;
	a->seq = bpf_htonl(bpf_ntohl(syn->seq) + 1 + delta_seq);
	a->ack_seq = bpf_htonl(cookie + 1 + delta_ack);
}

SEC("xdp")
int xdp_synproxy(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0, th_len;
	struct cfg *c = bpf_map_lookup_elem(&sc_cfg, &zero);
	struct tcphdr *th, ack;
	struct rec *r;
	__s64 v;

	if (!c || (void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1), ipc;
		if ((void *)(iph + 1) > data_end || iph->ihl != 5 || iph->protocol != IPPROTO_TCP)
			return XDP_PASS;
		th = (void *)(iph + 1);
		/* 60 bytes readable after th (packets are padded), so any th_len
		 * up to 60 is inside the verified range */
		if ((void *)th + 60 > data_end)
			return XDP_PASS;
		th_len = (th->doff * 4 + c->th_len_delta) & 0x3f;
		if (th_len > 60)
			th_len = 60;
		r = next_rec();
		if (!r)
			return XDP_PASS;
		v = bpf_tcp_raw_gen_syncookie_ipv4(iph, th, th_len);
		keep(v);
		if (v < 0) {
			r->gen_err = v;
			return XDP_DROP;
		}
		r->mss = (__u64)v >> 32;
		__builtin_memcpy(&ipc, iph, sizeof(ipc));
		ack_of(&ack, th, (__u32)v, 0, 0);
		r->check_good = bpf_tcp_raw_check_syncookie_ipv4(&ipc, &ack);
		ack_of(&ack, th, (__u32)v, 1, 0);
		r->check_bad = bpf_tcp_raw_check_syncookie_ipv4(&ipc, &ack);
		ack_of(&ack, th, (__u32)v, 0, 1);
		r->check_seq = bpf_tcp_raw_check_syncookie_ipv4(&ipc, &ack);
		return XDP_TX;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1), ipc;
		if ((void *)(ip6h + 1) > data_end || ip6h->nexthdr != IPPROTO_TCP)
			return XDP_PASS;
		th = (void *)(ip6h + 1);
		/* 60 bytes readable after th (packets are padded), so any th_len
		 * up to 60 is inside the verified range */
		if ((void *)th + 60 > data_end)
			return XDP_PASS;
		th_len = (th->doff * 4 + c->th_len_delta) & 0x3f;
		if (th_len > 60)
			th_len = 60;
		r = next_rec();
		if (!r)
			return XDP_PASS;
		v = bpf_tcp_raw_gen_syncookie_ipv6(ip6h, th, th_len);
		keep(v);
		if (v < 0) {
			r->gen_err = v;
			return XDP_DROP;
		}
		r->mss = (__u64)v >> 32;
		__builtin_memcpy(&ipc, ip6h, sizeof(ipc));
		ack_of(&ack, th, (__u32)v, 0, 0);
		r->check_good = bpf_tcp_raw_check_syncookie_ipv6(&ipc, &ack);
		ack_of(&ack, th, (__u32)v, 1, 0);
		r->check_bad = bpf_tcp_raw_check_syncookie_ipv6(&ipc, &ack);
		ack_of(&ack, th, (__u32)v, 0, 1);
		r->check_seq = bpf_tcp_raw_check_syncookie_ipv6(&ipc, &ack);
		return XDP_TX;
	}
	return XDP_PASS;
}

/* an ACK as it arrives: check its cookie where it lies in the packet */
SEC("xdp")
int xdp_syncheck(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct rec *r;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	r = next_rec();
	if (!r)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = (void *)(eth + 1);
		struct tcphdr *th = (void *)(iph + 1);
		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		r->check_good = bpf_tcp_raw_check_syncookie_ipv4(iph, th);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = (void *)(eth + 1);
		struct tcphdr *th = (void *)(ip6h + 1);
		if ((void *)(th + 1) > data_end)
			return XDP_PASS;
		r->check_good = bpf_tcp_raw_check_syncookie_ipv6(ip6h, th);
	}
	return r->check_good ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
