/* bpf_loop with a callback that walks a map value array through a context
 * struct on the caller's stack. */
#include "common.h"

struct table { __u32 v[16]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct table);
} tbl SEC(".maps");

struct walk { struct table *t; __u32 acc; __u8 seed; };

static long step(__u32 i, void *arg)
{
	struct walk *w = arg;

	if (i >= 16)
		return 1;
	w->t->v[i] += w->seed + i;
	w->acc ^= w->t->v[i];
	return 0;
}

SEC("xdp")
int loop_cb(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	struct walk w = {};

	w.t = bpf_map_lookup_elem(&tbl, &key);
	if (!w.t || data + 8 > end)
		return XDP_PASS;
	w.seed = data[0];
	bpf_loop(data[1] & 15, step, &w, 0);
	*(__u32 *)(data + 4) = w.acc;
	return XDP_TX;
}
