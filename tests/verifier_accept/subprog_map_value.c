/* A map value pointer and a stack pointer passed to static __noinline
 * functions: counters updated through the pointer, a key built on the stack. */
#include "common.h"

struct stats { __u64 pkts; __u64 bytes; __u32 last_len; __u32 pad; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct stats);
} per_len SEC(".maps");

static __noinline void account(struct stats *s, __u32 len)
{
	s->pkts++;
	s->bytes += len;
	s->last_len = len;
}

static __noinline void make_key(__u32 *key, __u32 len)
{
	*key = len >> 4;
}

SEC("xdp")
int subprog_map(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 key;
	struct stats *s, zero = {};

	make_key(&key, len);
	s = bpf_map_lookup_elem(&per_len, &key);
	if (!s) {
		bpf_map_update_elem(&per_len, &key, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&per_len, &key);
		if (!s)
			return XDP_ABORTED;
	}
	account(s, len);
	return s->pkts > 1 ? XDP_PASS : XDP_DROP;
}
