// No arithmetic on a socket pointer.
#include "common.h"
SEC("xdp")
int sk_ptr_arith(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	__u32 v;
	if (!sk) return XDP_PASS;
	v = *(volatile __u32 *)((char *)sk + 4 + ctx->rx_queue_index);
	bpf_sk_release(sk);
	return v;
}
char _license[] SEC("license") = "GPL";
