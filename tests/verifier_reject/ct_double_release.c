// Releasing the same entry twice.
#include "ct_common.h"

SEC("xdp")
int ct_double_release(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	CT_LOOKUP(ctx, ct);
	if (!ct)
		return XDP_PASS;
	bpf_ct_release(ct);
	bpf_ct_release(ct);
	return XDP_PASS;
}
