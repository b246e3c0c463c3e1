// Socket looked up and never released: the reference leaks at exit.
#include "common.h"
SEC("xdp")
int sk_leak(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk && sk->state == 10) return XDP_DROP;
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
