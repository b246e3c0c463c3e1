// Socket pointer dereferenced before the NULL check.
#include "common.h"
SEC("xdp")
int sk_null(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	int s = sk->state;
	bpf_sk_release(sk);
	return s;
}
char _license[] SEC("license") = "GPL";
