/* TCP options walk: a bounded loop over kind/length pairs at a variable
 * offset, looking for the MSS option and clamping it. */
#include "common.h"

SEC("xdp")
int tcp_opts(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *tcp;
	unsigned char *opt, *opt_end;

	if ((unsigned char *)(ip + 1) > end || ip->protocol != IPPROTO_TCP || ip->ihl != 5)
		return XDP_PASS;
	tcp = (void *)(ip + 1);
	if ((unsigned char *)(tcp + 1) > end)
		return XDP_PASS;
	opt = (unsigned char *)(tcp + 1);
	opt_end = (unsigned char *)tcp + (tcp->doff & 15) * 4;
	for (int i = 0; i < 10; i++) {
		if (opt + 1 > end || opt >= opt_end)
			break;
		if (opt[0] == 0)                /* end of options */
			break;
		if (opt[0] == 1) {              /* nop */
			opt++;
			continue;
		}
		if (opt + 2 > end)
			break;
		if (opt[0] == 2 && opt[1] == 4) {
			if (opt + 4 > end)
				break;
			if (bpf_ntohs(*(__u16 *)(opt + 2)) > 1400)
				*(__u16 *)(opt + 2) = bpf_htons(1400);
			return XDP_TX;
		}
		if (opt[1] < 2)
			break;
		opt += opt[1];
	}
	return XDP_PASS;
}
