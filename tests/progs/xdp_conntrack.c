// Conntrack lookup through kfuncs (extern __ksym): pass packets of known
// TCP/UDP connections, count the rest.
#include <linux/udp.h>
#include "ct_common.h"

__u64 unknown_flows = 0;

SEC("xdp")
int xdp_ct(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *l4;
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts12___local opts = { .netns_id = -1 };    /* the 12-byte form */
	struct nf_conn *ct;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	l4 = (void *)(ip + 1);
	if ((void *)(l4 + 1) > data_end)
		return XDP_PASS;
	ct_tuple_v4(&tup, ip, (__u16 *)l4);
	opts.l4proto = ip->protocol;
	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), (struct bpf_ct_opts___local *)&opts,
			       sizeof(opts));
	if (ct) {
		bpf_ct_release(ct);
		return XDP_PASS;
	}
	__sync_fetch_and_add(&unknown_flows, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
