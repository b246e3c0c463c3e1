// The checks of the kernel selftest test_bpf_nf (tools/testing/selftests/
// bpf/progs/test_bpf_nf.c) in one XDP program: every opts->error case of
// lookup and alloc, alloc -> set_timeout -> mark -> insert -> lookup, status
// changes and their errors, duplicates, zones, both opts sizes, NAT info,
// and the selftest's in-program timeout check (ct->timeout - bpf_jiffies64(),
// in seconds via the CONFIG_HZ __kconfig extern).
// Each result goes into res[] so the kernel's and dataplane's runs compare
// slot by slot.
#include "ct_common.h"
#include "slots.h"

extern unsigned long CONFIG_HZ __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;

#define IPS_SEEN_REPLY (1 << 1)
#define IPS_ASSURED (1 << 2)
#define IPS_CONFIRMED (1 << 3)
#define NOT_SET 0xdead

RESULT_SLOTS(res, 48)

/* an allocated entry can only leave through insert (release wants nf_conn) */
static __always_inline void dispose(struct nf_conn *ct)
{
	struct nf_conn *ins = bpf_ct_insert_entry(ct);
	if (ins)
		bpf_ct_release(ins);
}

/* lookup with these opts; record opts.error (or 0 when found), release */
#define TRY_LOOKUP(slot, o, tsz, osz)                                             \
	do {                                                                       \
		(o).error = 0;                                                     \
		ct = bpf_xdp_ct_lookup(ctx, &tup, tsz, (struct bpf_ct_opts___local *)&(o), osz);                \
		if (ct) {                                                          \
			bpf_ct_release(ct);                                        \
			res_set(slot, 1000 + (o).dir);                                 \
		} else {                                                           \
			res_set(slot, (o).error);                                      \
		}                                                                  \
	} while (0)

SEC("xdp")
int xdp_ct_nf(struct xdp_md *ctx)
{
	struct bpf_sock_tuple tup = {}, rtup = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct bpf_ct_opts12___local o12 = { .netns_id = -1, .l4proto = IPPROTO_TCP };
	struct nf_conn *ct, *ins, *lk;
	int delta;
	union nf_inet_addr___local nat = { .all = { bpf_htonl(0xc0a80001), 0, 0, 0 } };

	tup.ipv4.saddr = bpf_htonl(0x0a000001);
	tup.ipv4.daddr = bpf_htonl(0x0a000002);
	tup.ipv4.sport = bpf_htons(40000);
	tup.ipv4.dport = bpf_htons(443);

	/* lookup errors */
	o.reserved[0] = 1;
	TRY_LOOKUP(0, o, sizeof(tup.ipv4), sizeof(o));
	o.reserved[0] = 0;
	o.netns_id = -2;
	TRY_LOOKUP(1, o, sizeof(tup.ipv4), sizeof(o));
	o.netns_id = -1;
	TRY_LOOKUP(2, o, sizeof(tup.ipv4), sizeof(o) - 1);
	TRY_LOOKUP(3, o, sizeof(tup.ipv4), 8);
	o.l4proto = IPPROTO_ICMP;
	TRY_LOOKUP(4, o, sizeof(tup.ipv4), sizeof(o));
	o.netns_id = -2;               /* lookup: l4proto is checked first */
	TRY_LOOKUP(5, o, sizeof(tup.ipv4), sizeof(o));
	o.netns_id = -1;
	o.l4proto = IPPROTO_TCP;
	o.netns_id = 0xf00f;
	TRY_LOOKUP(6, o, sizeof(tup.ipv4), sizeof(o));
	o.netns_id = -1;
	TRY_LOOKUP(7, o, sizeof(tup.ipv4) + 1, sizeof(o));
	TRY_LOOKUP(8, o, sizeof(tup.ipv4), sizeof(o));          /* -ENOENT */
	res_set(9, o.ct_zone_dir);                                   /* written back: 3 */
	o12.reserved[1] = 0;
	*(__u16 *)&o12.reserved[0] = 0x0101;                     /* the zone id bytes of a 12-byte opts */
	TRY_LOOKUP(10, o12, sizeof(tup.ipv4), sizeof(o12));
	*(__u16 *)&o12.reserved[0] = 0;
	TRY_LOOKUP(11, o12, sizeof(tup.ipv4), sizeof(o12));     /* -ENOENT */

	/* alloc errors: netns_id is checked before l4proto here */
	o.l4proto = IPPROTO_ICMP;
	o.netns_id = -2;
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (ct) { dispose(ct); res_set(12, 1); } else res_set(12, o.error);
	o.netns_id = -1;
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (ct) { dispose(ct); res_set(13, 1); } else res_set(13, o.error);
	o.l4proto = IPPROTO_TCP;
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4) + 2, &o, sizeof(o));
	if (ct) { dispose(ct); res_set(14, 1); } else res_set(14, o.error);
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, 13);
	if (ct) { dispose(ct); res_set(15, 1); } else res_set(15, o.error);

	/* alloc -> set_timeout -> mark -> status -> insert -> lookup */
	res_set(16, NOT_SET);
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (!ct)
		return XDP_ABORTED;
	res_set(17, ct->status);                                   /* unconfirmed: 0 */
	bpf_ct_set_timeout(ct, 10000);
	ct->mark = 77;
	res_set(18, bpf_ct_set_status(ct, IPS_CONFIRMED));         /* -EBUSY */
	res_set(19, bpf_ct_set_status(ct, IPS_SEEN_REPLY));        /* 0 */
	res_set(20, ct->status);
	ins = bpf_ct_insert_entry(ct);
	if (!ins)
		return XDP_ABORTED;
	res_set(21, ins->status);
	res_set(22, ins->mark);
	/* test_bpf_nf: the new entry's timeout is within bounds, in seconds */
	delta = ins->timeout - bpf_jiffies64();
	delta /= CONFIG_HZ;
	res_set(37, delta > 8 && delta <= 10);
	res_set(38, CONFIG_HZ);
	res_set(39, LINUX_KERNEL_VERSION);
	lk = bpf_xdp_ct_lookup(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (lk) {
		res_set(23, lk->mark + 1000 * o.dir);
		res_set(24, bpf_ct_change_timeout(lk, 20000));
		delta = lk->timeout - bpf_jiffies64();
		delta /= CONFIG_HZ;
		res_set(40, delta > 18 && delta <= 20);
		res_set(25, bpf_ct_change_status(lk, IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED));
		res_set(26, lk->status);
		res_set(27, bpf_ct_change_status(lk, IPS_CONFIRMED));    /* clears SEEN_REPLY: -EBUSY */
		res_set(28, bpf_ct_change_status(lk, 0));                /* clears CONFIRMED: -EBUSY */
		lk->mark = 78;
		bpf_ct_release(lk);
	}
	bpf_ct_release(ins);

	/* the reply direction finds it too */
	rtup.ipv4.saddr = tup.ipv4.daddr;
	rtup.ipv4.daddr = tup.ipv4.saddr;
	rtup.ipv4.sport = tup.ipv4.dport;
	rtup.ipv4.dport = tup.ipv4.sport;
	o.error = 0;
	lk = bpf_xdp_ct_lookup(ctx, &rtup, sizeof(rtup.ipv4), &o, sizeof(o));
	if (lk) { res_set(29, lk->mark + 1000 * o.dir); bpf_ct_release(lk); } else res_set(29, o.error);
	TRY_LOOKUP(30, o12, sizeof(tup.ipv4), sizeof(o12));     /* 12-byte opts find it */
	o.ct_zone_id = 5;
	TRY_LOOKUP(31, o, sizeof(tup.ipv4), sizeof(o));          /* other zone: -ENOENT */
	o.ct_zone_id = 0;
	o.l4proto = IPPROTO_UDP;
	TRY_LOOKUP(32, o, sizeof(tup.ipv4), sizeof(o));          /* other protocol: -ENOENT */
	o.l4proto = IPPROTO_TCP;

	/* duplicate insert fails (-EEXIST inside: NULL) */
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (ct) {
		ins = bpf_ct_insert_entry(ct);
		if (ins) { res_set(33, 1); bpf_ct_release(ins); } else res_set(33, -17);
	}

	/* source NAT: the reply tuple targets the NAT address and port */
	tup.ipv4.sport = bpf_htons(40001);
	o.error = 0;
	ct = bpf_xdp_ct_alloc(ctx, &tup, sizeof(tup.ipv4), &o, sizeof(o));
	if (ct) {
		res_set(34, bpf_ct_set_nat_info(ct, &nat, 4321, NAT_SRC___local));
		ins = bpf_ct_insert_entry(ct);
		if (ins) {
			res_set(35, ins->status);
			bpf_ct_release(ins);
		}
	}
	rtup.ipv4.daddr = nat.all[0];
	rtup.ipv4.dport = bpf_htons(4321);
	o.error = 0;
	lk = bpf_xdp_ct_lookup(ctx, &rtup, sizeof(rtup.ipv4), &o, sizeof(o));
	if (lk) { res_set(36, 1000 + o.dir); bpf_ct_release(lk); } else res_set(36, o.error);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
