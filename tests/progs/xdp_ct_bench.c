// Conntrack kfunc micro-benchmark programs (benchmarks/conntrack.py):
// ct_lookup looks the packet's TCP tuple up (hit or miss), ct_insert_pkt
// creates the packet's entry, ct_insert_seq creates a new entry per run
// (source address from a counter) to measure inserts.
#include "ct_common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} seq SEC(".maps");

static __always_inline int tuple_of(struct xdp_md *ctx, struct bpf_sock_tuple *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u16 *ports = (void *)(ip + 1);

	if ((void *)(ports + 2) > data_end)
		return -1;
	ct_tuple_v4(t, ip, ports);
	return 0;
}

static __always_inline int create(struct xdp_md *ctx, struct bpf_sock_tuple *t)
{
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct nf_conn *ct = bpf_xdp_ct_alloc(ctx, t, sizeof(t->ipv4), &o, sizeof(o));
	struct nf_conn *ins;

	if (!ct)
		return XDP_ABORTED;
	bpf_ct_set_timeout(ct, 120000);
	ct->mark = 1;
	ins = bpf_ct_insert_entry(ct);
	if (!ins)
		return XDP_DROP;
	bpf_ct_release(ins);
	return XDP_PASS;
}

SEC("xdp")
int ct_lookup(struct xdp_md *ctx)
{
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct bpf_sock_tuple t = {};
	struct nf_conn *ct;
	int mark;

	if (tuple_of(ctx, &t))
		return XDP_ABORTED;
	ct = bpf_xdp_ct_lookup(ctx, &t, sizeof(t.ipv4), &o, sizeof(o));
	if (!ct)
		return XDP_DROP;
	mark = ct->mark;
	bpf_ct_release(ct);
	return mark ? XDP_PASS : XDP_TX;
}

SEC("xdp")
int ct_insert_pkt(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};

	if (tuple_of(ctx, &t))
		return XDP_ABORTED;
	return create(ctx, &t);
}

SEC("xdp")
int ct_insert_seq(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&seq, &k);

	if (!n || tuple_of(ctx, &t))
		return XDP_ABORTED;
	*n += 1;
	t.ipv4.saddr = bpf_htonl(0x0b000000 + (__u32)*n);
	return create(ctx, &t);
}

char _license[] SEC("license") = "GPL";
