// bpf_tcp_gen_syncookie with a lookup result that may be NULL.
#include "common.h"
#include <linux/tcp.h>
SEC("xdp")
int syncookie_sk_null(struct xdp_md *ctx) {
	struct bpf_sock_tuple t = {};
	struct iphdr ip = {};
	struct tcphdr th = {};
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), BPF_F_CURRENT_NETNS, 0);
	long r = bpf_tcp_gen_syncookie(sk, &ip, sizeof(ip), &th, sizeof(th));
	if (sk)
		bpf_sk_release(sk);
	return r < 0 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
