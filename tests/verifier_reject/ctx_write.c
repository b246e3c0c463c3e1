// Tries to move the packet start by writing xdp_md->data.
#include "common.h"

SEC("xdp")
int ctx_write(struct xdp_md *ctx)
{
	ctx->data += 14;
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
