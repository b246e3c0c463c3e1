// Writing a field of nf_conn other than mark.
#include "ct_common.h"

SEC("xdp")
int ct_write_status(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	CT_LOOKUP(ctx, ct);
	if (!ct)
		return XDP_PASS;
	ct->status = 1;
	bpf_ct_release(ct);
	return XDP_PASS;
}
