/* A stack buffer filled by a static __noinline function from packet bytes
 * (stack pointer + packet pointers as arguments), then used as a map key. */
#include "common.h"

struct flow { __u32 saddr; __u32 daddr; __u8 proto; __u8 pad[3]; };
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, struct flow);
	__type(value, __u64);
} flows SEC(".maps");

static __noinline int fill(struct flow *f, void *data, void *end)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > end)
		return -1;
	f->saddr = ip->saddr;
	f->daddr = ip->daddr;
	f->proto = ip->protocol;
	return 0;
}

SEC("xdp")
int subprog_stack(struct xdp_md *ctx)
{
	struct flow f = {};
	__u64 one = 1, *v;

	if (fill(&f, (void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_PASS;
	v = bpf_map_lookup_elem(&flows, &f);
	if (v) {
		__sync_fetch_and_add(v, 1);
		return *v > 2 ? XDP_DROP : XDP_PASS;
	}
	bpf_map_update_elem(&flows, &f, &one, BPF_ANY);
	return XDP_PASS;
}
