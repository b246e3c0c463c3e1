/* Variable-offset map value access: an index from the packet, masked to the
 * value's array size, reads and writes one slot of the map value. */
#include "common.h"

struct hist { __u32 bucket[64]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("xdp")
int map_index(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u32 key = 1;
	struct hist *h;

	if (data + 16 > end)
		return XDP_PASS;
	h = bpf_map_lookup_elem(&hists, &key);
	if (!h)
		return XDP_ABORTED;
	__u32 idx = data[14] & 63;
	h->bucket[idx] += 1;
	__u32 other = (data[15] ^ idx) & 63;
	data[0] = h->bucket[other] & 0xff;
	return XDP_TX;
}
