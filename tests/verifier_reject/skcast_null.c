// A socket cast of a lookup result that may be NULL.
#include "common.h"
SEC("xdp")
int skcast_null(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	return tp ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
