/* Bounded for loop: a checksum-like fold over up to 64 payload bytes, each
 * read behind its own data_end check (the loop counter is the offset). */
#include "common.h"

SEC("xdp")
int loop_for(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u32 sum = 0;

	for (int i = 0; i < 64; i++) {
		if (data + i + 1 > end)
			break;
		sum = (sum << 1) + data[i] + (sum >> 31);
	}
	if (data + 4 <= end)
		*(__u32 *)data = sum;
	return sum & 1 ? XDP_TX : XDP_PASS;
}
