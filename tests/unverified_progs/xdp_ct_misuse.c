// Programs the kernel's verifier rejects (use after release, double
// release, a leaked reference): dataplane runs them unverified on the
// checked interpreter (Collection.load(verify=False)), where the kfuncs must
// stop the program instead of touching freed or foreign memory.
// tests/test_conntrack_kfuncs_misuse.py; kept out of tests/progs, whose
// every object must load in the kernel.  The packet's first byte picks the
// case.
#include "../progs/ct_common.h"

static __always_inline struct nf_conn *new_entry(struct xdp_md *ctx, __u16 sport, int insert)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_UDP };
	struct nf_conn *ct;

	tup.ipv4.saddr = bpf_htonl(0x0a000001);
	tup.ipv4.daddr = bpf_htonl(0x0a000002);
	tup.ipv4.sport = bpf_htons(sport);
	tup.ipv4.dport = bpf_htons(53);
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (!ct || !insert)
		return ct;
	return bpf_ct_insert_entry(ct);
}

static __always_inline struct nf_conn *find(struct xdp_md *ctx, __u16 sport)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_UDP };

	tup.ipv4.saddr = bpf_htonl(0x0a000001);
	tup.ipv4.daddr = bpf_htonl(0x0a000002);
	tup.ipv4.sport = bpf_htons(sport);
	tup.ipv4.dport = bpf_htons(53);
	return bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
}

SEC("xdp")
int xdp_ct_misuse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct nf_conn *ct, *ct2;
	__u8 what;

	if (data + 1 > end)
		return XDP_ABORTED;
	what = *(__u8 *)data;
	switch (what) {
	case 1: /* insert + lookup + release, twice the same entry: fine */
		ct = new_entry(ctx, 1, 1);
		if (!ct)
			return XDP_ABORTED;
		ct2 = find(ctx, 1);
		if (!ct2)
			return XDP_ABORTED;
		bpf_ct_release(ct);
		ct2->mark = 11;     /* still held through ct2 */
		bpf_ct_release(ct2);
		return XDP_PASS;
	case 2: /* read after release of an unhashed (freed) entry */
		ct = new_entry(ctx, 2, 0);
		if (!ct)
			return XDP_ABORTED;
		bpf_ct_release(ct);
		return ct->mark + 100;
	case 3: /* double release of a looked-up entry */
		ct = find(ctx, 1);
		if (!ct)
			return XDP_ABORTED;
		bpf_ct_release(ct);
		bpf_ct_release(ct);
		return XDP_PASS;
	case 4: /* release of something never acquired (a stack address) */
		bpf_ct_release((struct nf_conn *)&what);
		return XDP_PASS;
	case 5: /* change_timeout after release */
		ct = find(ctx, 1);
		if (!ct)
			return XDP_ABORTED;
		bpf_ct_release(ct);
		return bpf_ct_change_timeout(ct, 1000) + 100;
	case 6: /* a lookup never released */
		ct = find(ctx, 1);
		return ct ? XDP_PASS : XDP_ABORTED;
	case 7: /* many entries held and released in one run (region table) */
		for (int i = 0; i < 2500; i++) {
			ct = new_entry(ctx, 1000 + i, 1);
			if (!ct)
				return XDP_ABORTED;
			ct->mark = i;
			bpf_ct_release(ct);
		}
		return XDP_PASS;
	}
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
