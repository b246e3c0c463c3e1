// A tail call from inside an RCU read-side section.
#include "rcu_common.h"
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} rcu_jmp SEC(".maps");
SEC("xdp") int rcu_tail_call(struct xdp_md *ctx)
{
	bpf_rcu_read_lock();
	bpf_tail_call(ctx, &rcu_jmp, 1);
	bpf_rcu_read_unlock();
	return XDP_PASS;
}
