// bpf_sk_release takes a socket, not the context.
#include "common.h"
SEC("xdp")
int sk_release_ctx(struct xdp_md *ctx) {
	bpf_sk_release((void *)ctx);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
