// Conntrack zones through the kfuncs (bpf_ct_opts.ct_zone_id / ct_zone_dir,
// 16-byte opts): entries allocated in a zone that applies to both, only the
// original, or only the reply direction, then looked up by their original
// and reply tuples from several zones.  One result slot per lookup so the
// kernel's and dataplane's answers compare slot by slot.
#include "ct_common.h"
#include "slots.h"

RESULT_SLOTS(res, 96)

static __always_inline void mk(struct bpf_sock_tuple *t, __u16 sport, int reply)
{
	__u32 a = bpf_htonl(0x0a000001), b = bpf_htonl(0x0a000002);
	__u16 sp = bpf_htons(sport), dp = bpf_htons(443);

	t->ipv4.saddr = reply ? b : a;
	t->ipv4.daddr = reply ? a : b;
	t->ipv4.sport = reply ? dp : sp;
	t->ipv4.dport = reply ? sp : dp;
}

/* alloc + insert in zone (id, dir); records opts.error (0 = inserted, -17 = dup),
 * and the ct_zone_dir the kernel wrote back into opts */
static __always_inline void add(struct xdp_md *ctx, __u32 slot, __u16 sport, __u16 id, __u8 zdir)
{
	struct bpf_sock_tuple t = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP, .ct_zone_id = id, .ct_zone_dir = zdir };
	struct nf_conn *ct, *ins;

	mk(&t, sport, 0);
	ct = bpf_xdp_ct_alloc(ctx, &t, sizeof(t.ipv4), &o, sizeof(o));
	if (!ct) {
		res_set(slot, o.error);
		return;
	}
	bpf_ct_set_timeout(ct, 30000);
	ct->mark = sport;
	ins = bpf_ct_insert_entry(ct);
	if (ins) {
		res_set(slot, 100 + o.ct_zone_dir);
		bpf_ct_release(ins);
	} else {
		res_set(slot, -17);
	}
}

/* lookup; record 1000 * dir + mark % 1000 on a hit, opts.error on a miss */
static __always_inline void look(struct xdp_md *ctx, __u32 slot, __u16 sport, int reply, __u16 id, __u8 zdir)
{
	struct bpf_sock_tuple t = {};
	struct bpf_ct_opts___local o = { .netns_id = -1, .l4proto = IPPROTO_TCP, .ct_zone_id = id, .ct_zone_dir = zdir };
	struct nf_conn *ct;

	mk(&t, sport, reply);
	ct = bpf_xdp_ct_lookup(ctx, &t, sizeof(t.ipv4), &o, sizeof(o));
	if (ct) {
		res_set(slot, 1000 * (o.dir + 1) + ct->mark % 1000);
		bpf_ct_release(ct);
	} else {
		res_set(slot, o.error);
	}
}

#define LOOK_ALL(base, sport)                                    \
	do {                                                     \
		look(ctx, (base) + 0, sport, 0, 0, 0);           \
		look(ctx, (base) + 1, sport, 1, 0, 0);           \
		look(ctx, (base) + 2, sport, 0, 5, 0);           \
		look(ctx, (base) + 3, sport, 1, 5, 0);           \
		look(ctx, (base) + 4, sport, 0, 5, 1);           \
		look(ctx, (base) + 5, sport, 1, 5, 1);           \
		look(ctx, (base) + 6, sport, 0, 5, 2);           \
		look(ctx, (base) + 7, sport, 1, 5, 2);           \
		look(ctx, (base) + 8, sport, 0, 7, 3);           \
		look(ctx, (base) + 9, sport, 1, 7, 3);           \
	} while (0)

SEC("xdp")
int xdp_ct_zone(struct xdp_md *ctx)
{
	add(ctx, 0, 101, 5, 0);     /* zone 5, both directions (dir 0 -> 3) */
	add(ctx, 1, 102, 5, 1);     /* zone 5, original direction only */
	add(ctx, 2, 103, 5, 2);     /* zone 5, reply direction only */
	add(ctx, 3, 104, 0, 0);     /* default zone */
	add(ctx, 4, 105, 5, 3);
	add(ctx, 5, 105, 6, 3);     /* same tuple, other zone: a second entry */
	add(ctx, 6, 102, 0, 0);     /* reply key (zone 0) collides with 102's */
	add(ctx, 7, 103, 0, 0);     /* original key (zone 0) collides with 103's */
	add(ctx, 8, 101, 0, 0);     /* both keys differ from 101's: inserted */
	LOOK_ALL(10, 101);
	LOOK_ALL(20, 102);
	LOOK_ALL(30, 103);
	LOOK_ALL(40, 104);
	LOOK_ALL(50, 105);
	look(ctx, 60, 105, 0, 6, 3);
	look(ctx, 61, 105, 1, 6, 3);
	look(ctx, 62, 105, 0, 6, 1);
	look(ctx, 63, 105, 1, 6, 2);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
