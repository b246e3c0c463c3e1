// A cast used after its socket was released (the cast shares its reference).
#include "common.h"
SEC("xdp")
int skcast_after_release(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	struct tcp_sock *tp;
	if (!sk) return XDP_PASS;
	tp = bpf_skc_to_tcp_sock(sk);
	bpf_sk_release(sk);
	if (!tp) return XDP_PASS;
	return bpf_skc_to_tcp6_sock(tp) ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
