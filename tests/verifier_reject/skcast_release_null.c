// bpf_sk_release of a socket cast that may be NULL.
#include "common.h"
SEC("xdp")
int skcast_release_null(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	bpf_sk_release(bpf_skc_to_tcp_sock(sk));
	return XDP_DROP;
}
char _license[] SEC("license") = "GPL";
