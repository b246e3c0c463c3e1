// The tuple memory must hold the size passed: 8 bytes past the stack
// buffer is an out-of-bounds read (a wrong but in-bounds size is only
// found at run time).
#include "common.h"
SEC("xdp")
int sk_lookup_bad_size(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t) + 8, BPF_F_CURRENT_NETNS, 0);
	if (sk) bpf_sk_release(sk);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
