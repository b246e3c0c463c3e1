// Socket read after bpf_sk_release.
#include "common.h"
SEC("xdp")
int sk_after_release(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	bpf_sk_release(sk);
	return sk->state;
}
char _license[] SEC("license") = "GPL";
