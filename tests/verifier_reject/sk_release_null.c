// bpf_sk_release of a lookup result that may be NULL.
#include "common.h"
SEC("xdp")
int sk_release_null(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	bpf_sk_release(sk);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
