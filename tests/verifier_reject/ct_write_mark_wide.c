// Writing 8 bytes at mark: beyond the 4-byte member.
#include "ct_common.h"

SEC("xdp")
int ct_write_mark_wide(struct xdp_md *ctx)
{
	struct nf_conn *ct;
	CT_LOOKUP(ctx, ct);
	if (!ct)
		return XDP_PASS;
	*(volatile __u64 *)&ct->mark = 1;
	bpf_ct_release(ct);
	return XDP_PASS;
}
