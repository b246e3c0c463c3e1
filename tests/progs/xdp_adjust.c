// Push an extra header in front of the packet and trim its tail.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

#define ENCAP_LEN 4

SEC("xdp")
int xdp_push(struct xdp_md *ctx)
{
	void *data, *data_end;
	struct ethhdr *eth, *old;

	if (bpf_xdp_adjust_head(ctx, -ENCAP_LEN))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	old = data + ENCAP_LEN;
	if ((void *)(old + 1) > data_end)
		return XDP_DROP;
	__builtin_memmove(eth, old, sizeof(*eth));
	return XDP_TX;
}

SEC("xdp.frags")
int xdp_trim(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (data_end - data > 64) {
		if (bpf_xdp_adjust_tail(ctx, -4))
			return XDP_ABORTED;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
