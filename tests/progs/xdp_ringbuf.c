// Sample packet headers into a ring buffer.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 len;
	__u32 ifindex;
	__u8 head[14];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} events SEC(".maps");

SEC("xdp")
int xdp_sample(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct event *e;

	if (data + sizeof(e->head) > data_end)
		return XDP_PASS;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return XDP_PASS;
	e->len = data_end - data;
	e->ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(e->head, data, sizeof(e->head));
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}

/* Same thing with bpf_ringbuf_output and a stack buffer. */
SEC("xdp")
int xdp_sample_output(struct xdp_md *ctx)
{
	struct event e = {};

	e.len = ctx->data_end - ctx->data;
	e.ifindex = ctx->ingress_ifindex;
	bpf_ringbuf_output(&events, &e, sizeof(e), BPF_RB_NO_WAKEUP);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
