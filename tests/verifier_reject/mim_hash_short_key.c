// A hash of maps keyed by u64 looked up with a 4-byte key on the stack.
#include "mim_common.h"

SEC("xdp")
int mim_hash_short_key(struct xdp_md *ctx)
{
	__u32 k = 0;
	void *inner = bpf_map_lookup_elem(&outer_hash, &k);
	return inner ? XDP_DROP : XDP_PASS;
}
