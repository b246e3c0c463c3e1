// Reading the entry after releasing it.
#include "ct_common.h"

SEC("xdp")
int ct_use_after_release(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	CT_LOOKUP(ctx, ct);
	if (!ct)
		return XDP_PASS;
	bpf_ct_release(ct);
	return ct->status ? XDP_DROP : XDP_PASS;
}
