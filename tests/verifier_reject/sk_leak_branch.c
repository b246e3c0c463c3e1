// Released on one path only: the other leaks the reference.
#include "common.h"
SEC("xdp")
int sk_leak_branch(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	if (sk->protocol == IPPROTO_UDP) {
		bpf_sk_release(sk);
		return XDP_DROP;
	}
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
