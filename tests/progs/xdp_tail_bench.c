// The per-run floor and the cost of one tail call (benchmarks/kernel_compare.py):
// an empty program, a tail call into an empty PROG_ARRAY slot (falls
// through), and one into a slot holding an empty program.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int xdp_tail_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(max_entries, 2);
	__array(values, int (void *));
} tail_slots SEC(".maps") = {
	.values = { [1] = (void *)&xdp_tail_target },
};

SEC("xdp")
int xdp_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int xdp_tail_miss(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &tail_slots, 0);     /* empty slot: falls through */
	return XDP_DROP;
}

SEC("xdp")
int xdp_tail_hit(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &tail_slots, 1);
	return XDP_DROP;
}

SEC("xdp")
int xdp_tail_target(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
