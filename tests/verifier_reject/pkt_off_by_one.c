// Checks 14 bytes, then reads the 15th (the IP version byte).
#include "common.h"

SEC("xdp")
int pkt_off_by_one(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + sizeof(struct ethhdr) > data_end)
		return XDP_DROP;
	return (((volatile unsigned char *)data)[14] >> 4) == 4 ? XDP_PASS : XDP_DROP;
}
char _license[] SEC("license") = "GPL";
