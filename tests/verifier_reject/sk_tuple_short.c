// The tuple length exceeds the stack buffer.
#include "common.h"
SEC("xdp")
int sk_tuple_short(struct xdp_md *ctx) {
	__u64 t[2] = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, (void *)t, 36, BPF_F_CURRENT_NETNS, 0);
	if (sk) bpf_sk_release(sk);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
