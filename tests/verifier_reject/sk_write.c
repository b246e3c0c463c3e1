// struct bpf_sock is read only.
#include "common.h"
SEC("xdp")
int sk_write(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	sk->mark = 5;
	bpf_sk_release(sk);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
