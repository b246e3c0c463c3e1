// Local and ringbuf dynptrs: bpf_dynptr_from_mem over a map value and
// bpf_ringbuf_reserve_dynptr, then bpf_dynptr_write (the packet's first 16
// bytes at the configured offset), bpf_dynptr_read, bpf_dynptr_data (a
// write through it), bpf_dynptr_slice, a write with flags; the ringbuf
// record is submitted or discarded as configured. Every helper's answer is
// counted by value in dyn_res; the local dynptr's writes land in dyn_mem,
// and bpf_ringbuf_query gives the ring's producer position.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "slots.h"

#define E2BIG 7
#define EINVAL 22

extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
			      __u32 buffer__szk) __ksym;

struct cfg {
	__u32 size, off, discard, pad;
	__u64 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cfg);
} dyn_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[64]);
} dyn_mem SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb_dyn SEC(".maps");

RESULT_SLOTS(dyn_res, 24)

/* slot base + 0: 0, + 1: -E2BIG, + 2: -EINVAL, + 3: anything else */
static __always_inline void count(__u32 base, long e)
{
	dyn_res_add(base + (e == 0 ? 0 : e == -E2BIG ? 1 : e == -EINVAL ? 2 : 3), 1);
}

static __always_inline void exercise(struct bpf_dynptr *d, __u32 off, __u8 *hdr, __u64 len)
{
	__u64 buf = 0, *p;

	count(4, bpf_dynptr_write(d, off, hdr, 16, 0));
	count(8, bpf_dynptr_read(&buf, sizeof(buf), d, off, 0));
	dyn_res_add(12, buf);
	p = bpf_dynptr_data(d, off, 8);
	if (p) {
		dyn_res_add(13, *p);
		*p = len;
	} else {
		dyn_res_add(14, 1);
	}
	p = bpf_dynptr_slice(d, off + 8, &buf, sizeof(buf));
	dyn_res_add(15, p ? (p == (void *)&buf ? 1000 : *p) : 1);
	count(16, bpf_dynptr_write(d, 0, hdr, 1, 1));
}

static __always_inline int packet_head(struct xdp_md *ctx, __u8 *hdr)
{
	__u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	if (data + 16 > end)
		return -1;
	__builtin_memcpy(hdr, data, 16);
	return 0;
}

SEC("xdp")
int xdp_dyn_local(struct xdp_md *ctx)
{
	__u32 zero = 0, size;
	struct cfg *c = bpf_map_lookup_elem(&dyn_cfg, &zero);
	__u8 *mem = bpf_map_lookup_elem(&dyn_mem, &zero);
	struct bpf_dynptr d;
	__u8 hdr[16];
	long e;

	if (!c || !mem || packet_head(ctx, hdr))
		return XDP_PASS;
	size = c->size > 64 ? 64 : c->size;
	e = bpf_dynptr_from_mem(mem, size, c->flags, &d);
	count(0, e);
	exercise(&d, c->off, hdr, ctx->data_end - ctx->data);
	return e ? XDP_DROP : XDP_TX;
}

SEC("xdp")
int xdp_dyn_ringbuf(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct cfg *c = bpf_map_lookup_elem(&dyn_cfg, &zero);
	struct bpf_dynptr d;
	__u8 hdr[16];
	long e;

	if (!c || packet_head(ctx, hdr))
		return XDP_PASS;
	e = bpf_ringbuf_reserve_dynptr(&rb_dyn, c->size, c->flags, &d);
	count(0, e);
	exercise(&d, c->off, hdr, ctx->data_end - ctx->data);
	if (c->discard)
		bpf_ringbuf_discard_dynptr(&d, 0);
	else
		bpf_ringbuf_submit_dynptr(&d, 0);
	dyn_res_set(20, bpf_ringbuf_query(&rb_dyn, BPF_RB_PROD_POS));
	return e ? XDP_DROP : XDP_TX;
}

char _license[] SEC("license") = "GPL";
