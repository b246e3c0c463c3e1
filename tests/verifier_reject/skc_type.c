// A sock_common (bpf_skc_lookup_tcp) has no type field.
#include "common.h"
SEC("xdp")
int skc_type(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	int r;
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	r = sk->type;
	bpf_sk_release(sk);
	return r;
}
char _license[] SEC("license") = "GPL";
