// bpf_loop with a callback (lddw of a subprogram address) and a CO-RE
// field access on a preserve_access_index struct.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct xdp_md___core {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
} __attribute__((preserve_access_index));

struct loop_ctx {
	__u64 sum;
	__u32 limit;
};

static int add_one(__u32 index, void *data)
{
	struct loop_ctx *lc = data;

	lc->sum += index;
	return index >= lc->limit ? 1 : 0;
}

SEC("xdp")
int xdp_loop(struct xdp_md *ctx)
{
	struct xdp_md___core *c = (void *)ctx;
	struct loop_ctx lc = { .sum = 0, .limit = 10 };

	lc.limit += c->rx_queue_index & 7;
	bpf_loop(32, add_one, &lc, 0);
	return lc.sum > 1000 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
