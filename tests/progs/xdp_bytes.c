// bpf_xdp_load_bytes / bpf_xdp_store_bytes / bpf_xdp_get_buff_len /
// bpf_xdp_adjust_tail on linear and multi-buffer packets: a script of
// operations in a config map (offset, length, delta), every helper return
// value recorded, the packet returned as the helpers left it (data_out
// includes the fragments). xdp.frags marks the program frags-aware
// (BPF_F_XDP_HAS_FRAGS); xdp_bytes_linear is the same code without it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NOPS 8
#define BUF 64

enum { OP_NONE, OP_LOAD, OP_STORE, OP_TAIL, OP_LEN, OP_COPY };

struct op {
	__u32 kind;
	__u32 off;
	__u32 len;       /* <= BUF */
	__s32 delta;     /* adjust_tail offset / store fill byte / copy destination */
};

struct script {
	struct op ops[NOPS];
};

struct result {
	__s64 ret[NOPS];
	__u64 len_before, len_after, linear;
	__u8 loaded[NOPS][BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct script);
} scripts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct result);
} results SEC(".maps");

static __always_inline int run(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct script *s = bpf_map_lookup_elem(&scripts, &zero);
	struct result *r = bpf_map_lookup_elem(&results, &zero);
	__u8 buf[BUF];
	int i;

	if (!s || !r)
		return XDP_ABORTED;
	r->len_before = bpf_xdp_get_buff_len(ctx);
	for (i = 0; i < NOPS; i++) {
		struct op *o = &s->ops[i];
		__u32 len = o->len;
		long ret = 0;

		if (len == 0 || len > BUF)
			len = BUF;
		switch (o->kind) {
		case OP_LOAD:
			__builtin_memset(buf, 0xee, BUF);
			ret = bpf_xdp_load_bytes(ctx, o->off, buf, len);
			__builtin_memcpy(r->loaded[i], buf, BUF);
			break;
		case OP_STORE:
			__builtin_memset(buf, (__u8)o->delta, BUF);
			buf[0] = i;
			ret = bpf_xdp_store_bytes(ctx, o->off, buf, len);
			break;
		case OP_TAIL:
			ret = bpf_xdp_adjust_tail(ctx, o->delta);
			break;
		case OP_LEN:
			ret = bpf_xdp_get_buff_len(ctx);
			break;
		case OP_COPY:  /* load then store elsewhere: moves bytes across fragments */
			ret = bpf_xdp_load_bytes(ctx, o->off, buf, len);
			if (!ret)
				ret = bpf_xdp_store_bytes(ctx, (__u32)o->delta, buf, len);
			break;
		default:
			continue;
		}
		r->ret[i] = ret;
	}
	r->len_after = bpf_xdp_get_buff_len(ctx);
	r->linear = ctx->data_end - ctx->data;
	return XDP_PASS;
}

SEC("xdp.frags")
int xdp_bytes(struct xdp_md *ctx)
{
	return run(ctx);
}

SEC("xdp")
int xdp_bytes_linear(struct xdp_md *ctx)
{
	return run(ctx);
}

char _license[] SEC("license") = "GPL";
