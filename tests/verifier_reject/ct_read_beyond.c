// Reading past the end of struct nf_conn (248 bytes in the kernel).
#include "ct_common.h"

SEC("xdp")
int ct_read_beyond(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	int ret = XDP_PASS;
	CT_LOOKUP(ctx, ct);
	if (!ct)
		return XDP_PASS;
	if (((volatile __u64 *)ct)[31])
		ret = XDP_DROP;
	bpf_ct_release(ct);
	return ret;
}
