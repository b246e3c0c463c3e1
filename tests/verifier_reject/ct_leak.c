// Conntrack entry looked up and never released: the reference leaks at exit.
#include "ct_common.h"

SEC("xdp")
int ct_leak(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	CT_LOOKUP(ctx, ct);
	if (ct && ct->status)
		return XDP_DROP;
	return XDP_PASS;
}
