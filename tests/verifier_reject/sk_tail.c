// A tail call while holding a socket reference.
#include "common.h"
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32);} jt SEC(".maps");
SEC("xdp")
int sk_tail(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (!sk) return XDP_PASS;
	bpf_tail_call(ctx, &jt, 0);
	bpf_sk_release(sk);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
