/* while loop with break: find the first 0xff byte after the Ethernet header,
 * the position is a variable offset checked against data_end each step. */
#include "common.h"

SEC("xdp")
int loop_while(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	unsigned char *p = data + sizeof(struct ethhdr);
	__u32 steps = 0;

	while (steps < 100) {
		if (p + 1 > end)
			break;
		if (*p == 0xff)
			break;
		p++;
		steps++;
	}
	if (data + 2 > end)
		return XDP_ABORTED;
	data[0] = steps & 0xff;
	data[1] = (p + 1 <= end) ? 1 : 0;
	return XDP_TX;
}
