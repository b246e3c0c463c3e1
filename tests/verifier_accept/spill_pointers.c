/* Register pressure: packet and map value pointers live across a helper
 * call and a block that clobbers every callee-saved register, so clang has
 * to spill them to the stack and fill them back before use. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} cnt SEC(".maps");

SEC("xdp")
int spill_ptrs(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;
	__u32 key = 0;
	__u64 *c;

	if (data + 20 > end)
		return XDP_PASS;
	c = bpf_map_lookup_elem(&cnt, &key);
	if (!c)
		return XDP_ABORTED;
	/* clobber r6-r9: every live pointer must survive on the stack */
	asm volatile("r6 = 0; r7 = 0; r8 = 0; r9 = 0" ::: "r6", "r7", "r8", "r9");
	*c += data[12];
	__u64 t = bpf_ktime_get_ns();
	asm volatile("r6 = 1; r7 = 1; r8 = 1; r9 = 1" ::: "r6", "r7", "r8", "r9");
	data[19] = data[13] + (t & 0);
	data[18] = *c & 0xff;
	return XDP_TX;
}
