// bpf_tcp_raw_gen_syncookie_ipv4 reads a whole struct iphdr (MEM_FIXED_SIZE,
// 20 bytes): a 16-byte stack buffer is too short.
#include "common.h"
#include <linux/tcp.h>

SEC("xdp")
int syncookie_iph_short(struct xdp_md *ctx)
{
	__u64 iph[2] = {};
	struct tcphdr th = {};

	th.doff = 5;
	return bpf_tcp_raw_gen_syncookie_ipv4((void *)iph, &th, sizeof(th)) > 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
