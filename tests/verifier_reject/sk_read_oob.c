// Reading past struct bpf_sock's end is refused.
#include "common.h"
SEC("xdp")
int sk_read_oob(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	__u32 v;
	if (!sk) return XDP_PASS;
	v = *(volatile __u32 *)((char *)sk + 200);
	bpf_sk_release(sk);
	return v;
}
char _license[] SEC("license") = "GPL";
