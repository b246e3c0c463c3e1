// Released through the cast only: when the cast is NULL the socket leaks
// (a NULL cast does not end the lookup's reference).
#include "common.h"
SEC("xdp")
int skcast_leak(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	struct tcp_sock *tp;
	if (!sk) return XDP_PASS;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp) return XDP_PASS;
	bpf_sk_release(tp);
	return XDP_DROP;
}
char _license[] SEC("license") = "GPL";
