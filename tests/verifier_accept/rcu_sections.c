/* RCU read-side sections (bpf_rcu_read_lock / bpf_rcu_read_unlock): two
 * regions one after the other, a lock taken on both arms of a branch and
 * released after the join, a static subprogram called inside a region, and
 * one that takes the lock for its caller to release (only the main
 * program's exit must be outside a region). At run time both are no-ops. */
#include "common.h"

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} rcu_counts SEC(".maps");

static __noinline int classify(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	if (data + 14 > end)
		return 0;
	return data[13] & 3;
}

static __noinline int enter(int v)
{
	bpf_rcu_read_lock();
	return v + 1;
}

SEC("xdp")
int rcu_sections(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u32 k;
	__u64 *c;
	int cls;

	bpf_rcu_read_lock();
	cls = classify(ctx);
	k = cls;
	c = bpf_map_lookup_elem(&rcu_counts, &k);
	if (c)
		__sync_fetch_and_add(c, 1);
	bpf_rcu_read_unlock();

	if (data + 1 <= end && (data[0] & 1))
		bpf_rcu_read_lock();
	else
		cls = enter(cls);
	k = (cls + 1) & 3;
	c = bpf_map_lookup_elem(&rcu_counts, &k);
	bpf_rcu_read_unlock();
	if (c && *c > 3)
		return XDP_DROP;
	return cls & 1 ? XDP_TX : XDP_PASS;
}
