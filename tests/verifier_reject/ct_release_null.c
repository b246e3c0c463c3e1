// bpf_ct_release() of a lookup result that may be NULL.
#include "ct_common.h"

SEC("xdp")
int ct_release_null(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	CT_LOOKUP(ctx, ct);
	bpf_ct_release(ct);
	return XDP_PASS;
}
