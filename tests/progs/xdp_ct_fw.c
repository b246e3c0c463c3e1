// Stateful firewall over the kernel's conntrack kfuncs: pass packets of
// known TCP/UDP connections (either direction), create entries for new TCP
// SYNs and UDP flows (alloc + set_timeout + mark + insert), drop the rest.
// struct nf_conn is declared here the vmlinux.h way (preserve_access_index,
// fields in a different order than anywhere real), so ct->mark / ct->status
// are CO-RE relocations: the kernel's offsets there, dataplane's here.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct nf_conn {
	unsigned int mark;
	unsigned long status;
} __attribute__((preserve_access_index));

struct bpf_ct_opts___local {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u16 ct_zone_id;
	__u8 ct_zone_dir;
	__u8 reserved[3];
};

extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *, struct bpf_sock_tuple *, __u32,
					 struct bpf_ct_opts___local *, __u32) __ksym;
extern struct nf_conn *bpf_xdp_ct_alloc(struct xdp_md *, struct bpf_sock_tuple *, __u32,
					struct bpf_ct_opts___local *, __u32) __ksym;
extern struct nf_conn *bpf_ct_insert_entry(struct nf_conn *) __ksym;
extern void bpf_ct_release(struct nf_conn *) __ksym;
extern void bpf_ct_set_timeout(struct nf_conn *, __u32) __ksym;

enum { C_HIT_ORIG, C_HIT_REPLY, C_NEW, C_DROP_NOCONN, C_DROP_UNTRACKED, C_ALLOC_FAIL,
       C_INSERT_FAIL, C_MARK_SUM, C_STATUS_OR, C_LAST_ERR, C_MAX };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void bump(__u32 k, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &k);
	if (c)
		*c += v;
}

static __always_inline void put(__u32 k, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &k);
	if (c)
		*c = v;
}

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
		bump(C_DROP_UNTRACKED, 1);
		return XDP_DROP;
	}
	ports = (void *)(ip + 1);
	tup.ipv4.saddr = ip->saddr;
	tup.ipv4.daddr = ip->daddr;
	tup.ipv4.sport = ports[0];
	tup.ipv4.dport = ports[1];
	opts.l4proto = ip->protocol;

	ct = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	if (ct) {
		bump(opts.dir ? C_HIT_REPLY : C_HIT_ORIG, 1);
		bump(C_MARK_SUM, ct->mark);
		bump(C_STATUS_OR, ct->status);
		if (opts.dir)
			ct->mark = ct->mark + 100;   /* the only writable field */
		bpf_ct_release(ct);
		return XDP_PASS;
	}
	put(C_LAST_ERR, (__u64)(-opts.error));
	if (!is_syn) {
		bump(C_DROP_NOCONN, 1);
		return XDP_DROP;
	}
	opts.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &opts, sizeof(opts));
	if (!ct) {
		bump(C_ALLOC_FAIL, 1);
		return XDP_DROP;
	}
	bpf_ct_set_timeout(ct, 30000);
	ct->mark = ip->protocol == IPPROTO_TCP ? 7 : 42;
	ins = bpf_ct_insert_entry(ct);
	if (!ins) {
		bump(C_INSERT_FAIL, 1);
		return XDP_DROP;
	}
	bump(C_NEW, 1);
	bump(C_MARK_SUM, ins->mark);
	bpf_ct_release(ins);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
