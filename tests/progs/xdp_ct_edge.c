// Edge values of the conntrack kfuncs, compared slot by slot with the
// kernel (tests/test_conntrack_kfuncs_edge.py):
//  * bpf_ct_set_timeout / bpf_ct_change_timeout with timeouts of 2^31 ms and
//    more: the kernel's msecs_to_jiffies treats (int)ms < 0 as "infinite"
//    (MAX_JIFFY_OFFSET) and __nf_ct_set_timeout caps at INT_MAX jiffies;
//  * a zero timeout (the entry is expired as soon as it is inserted);
//  * IPS_FIXED_TIMEOUT: set before insert, then a status without it.
#include "ct_common.h"
#include "slots.h"

#define IPS_CONFIRMED (1 << 3)
#define IPS_FIXED_TIMEOUT (1 << 10)

RESULT_SLOTS(res, 64)

static __always_inline void tuple(struct bpf_sock_tuple *t, __u16 sport)
{
	t->ipv4.saddr = bpf_htonl(0x0a000001);
	t->ipv4.daddr = bpf_htonl(0x0a000002);
	t->ipv4.sport = bpf_htons(sport);
	t->ipv4.dport = bpf_htons(443);
}

/* alloc (sport), set_timeout(ms): slot base = the unconfirmed (relative)
 * ct->timeout, base+1 = jiffies left after insert, base+2 = the same after
 * change_timeout(ms) on a fresh lookup, base+3 = change_timeout's result. */
static __always_inline int timeout_case(struct xdp_md *ctx, __u32 base, __u16 sport, __u32 ms)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct nf_conn *ct, *ins, *lk;

	tuple(&tup, sport);
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (!ct)
		return -1;
	bpf_ct_set_timeout(ct, ms);
	res_set(base, ct->timeout);
	ins = bpf_ct_insert_entry(ct);
	if (!ins)
		return -1;
	res_set(base + 1, (__u32)(ins->timeout - (__u32)bpf_jiffies64()));
	bpf_ct_release(ins);
	lk = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (!lk) {
		res_set(base + 2, 0xdead);
		return 0;
	}
	res_set(base + 3, bpf_ct_change_timeout(lk, ms));
	res_set(base + 2, (__u32)(lk->timeout - (__u32)bpf_jiffies64()));
	bpf_ct_release(lk);
	return 0;
}

SEC("xdp")
int xdp_ct_edge(struct xdp_md *ctx)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct nf_conn *ct, *ins, *lk;

	if (timeout_case(ctx, 0, 1000, 0x7fffffffu) ||
	    timeout_case(ctx, 4, 1001, 0x80000000u) ||
	    timeout_case(ctx, 8, 1002, 0xffffffffu) ||
	    timeout_case(ctx, 12, 1003, 0xfffffffeu) ||
	    timeout_case(ctx, 16, 1004, 3000000000u) ||
	    timeout_case(ctx, 20, 1005, 1))
		return XDP_ABORTED;

	/* zero timeout: inserted (or not), then found (or not) */
	tuple(&tup, 2000);
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (!ct)
		return XDP_ABORTED;
	bpf_ct_set_timeout(ct, 0);
	res_set(30, ct->timeout);
	ins = bpf_ct_insert_entry(ct);
	res_set(31, ins != 0);
	if (ins)
		bpf_ct_release(ins);
	o.error = 0;
	lk = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	res_set(32, lk ? 1 : o.error);
	if (lk)
		bpf_ct_release(lk);

	/* IPS_FIXED_TIMEOUT before insert; a status without it afterwards */
	tuple(&tup, 3000);
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (!ct)
		return XDP_ABORTED;
	res_set(40, bpf_ct_set_status(ct, IPS_FIXED_TIMEOUT));
	res_set(41, ct->status);
	ins = bpf_ct_insert_entry(ct);
	if (!ins)
		return XDP_ABORTED;
	res_set(42, ins->status);
	res_set(43, bpf_ct_change_timeout(ins, 5000));
	res_set(44, bpf_ct_change_status(ins, IPS_CONFIRMED));
	res_set(45, ins->status);
	res_set(46, bpf_ct_change_status(ins, IPS_CONFIRMED | (1u << 20) | (1u << 16)));
	res_set(47, ins->status);
	bpf_ct_release(ins);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
