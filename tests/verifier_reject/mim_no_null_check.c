// The inner map a lookup returns may be NULL (empty slot): it has to be
// checked before it is passed to another lookup.
#include "mim_common.h"

SEC("xdp")
int mim_no_null_check(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *inner = bpf_map_lookup_elem(&outer, &k);
	__u64 *v = bpf_map_lookup_elem(inner, &k);
	return v ? XDP_DROP : XDP_PASS;
}
