// Stateful firewall over the kernel's conntrack kfuncs: pass packets of
// known TCP/UDP connections (either direction), create entries for new TCP
// SYNs and UDP flows (alloc + set_timeout + mark + insert), drop the rest.
// ct->mark / ct->status are CO-RE relocations (struct nf_conn in ct_common.h):
// the kernel's offsets there, dataplane's here.
#include <linux/tcp.h>
#include <linux/udp.h>
#include "ct_common.h"
#include "slots.h"

enum { C_HIT_ORIG, C_HIT_REPLY, C_NEW, C_DROP_NOCONN, C_DROP_UNTRACKED, C_ALLOC_FAIL,
       C_INSERT_FAIL, C_MARK_SUM, C_STATUS_OR, C_LAST_ERR, C_MAX };

RESULT_SLOTS(counters, C_MAX)

SEC("xdp")
int xdp_ct_fw(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_ct_opts___local opts = { .netns_id = -1 };
	struct bpf_sock_tuple tup = {};
	struct nf_conn *ct, *ins;
	struct iphdr *ip;
	int is_syn = 0;
	__u16 *ports;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl != 5)
		return XDP_DROP;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(ip + 1);
		if ((void *)(th + 1) > data_end)
			return XDP_DROP;
		is_syn = th->syn && !th->ack;
	} else if (ip->protocol == IPPROTO_UDP) {
		if ((void *)ip + sizeof(*ip) + sizeof(struct udphdr) > data_end)
			return XDP_DROP;
		is_syn = 1;
	} else {
		counters_add(C_DROP_UNTRACKED, 1);
		return XDP_DROP;
	}
	ports = (void *)(ip + 1);
	ct_tuple_v4(&tup, ip, ports);
	opts.l4proto = ip->protocol;

	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	if (ct) {
		counters_add(opts.dir ? C_HIT_REPLY : C_HIT_ORIG, 1);
		counters_add(C_MARK_SUM, ct->mark);
		counters_add(C_STATUS_OR, ct->status);
		if (opts.dir)
			ct->mark = ct->mark + 100;   /* the only writable field */
		bpf_ct_release(ct);
		return XDP_PASS;
	}
	counters_set(C_LAST_ERR, (__u64)(-opts.error));
	if (!is_syn) {
		counters_add(C_DROP_NOCONN, 1);
		return XDP_DROP;
	}
	opts.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	if (!ct) {
		counters_add(C_ALLOC_FAIL, 1);
		return XDP_DROP;
	}
	bpf_ct_set_timeout(ct, 30000);
	ct->mark = ip->protocol == IPPROTO_TCP ? 7 : 42;
	ins = bpf_ct_insert_entry(ct);
	if (!ins) {
		counters_add(C_INSERT_FAIL, 1);
		return XDP_DROP;
	}
	counters_add(C_NEW, 1);
	counters_add(C_MARK_SUM, ins->mark);
	bpf_ct_release(ins);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
