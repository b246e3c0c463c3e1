// bpf_strncmp / bpf_strtol / bpf_strtoul on packet bytes, and
// bpf_get_numa_node_id / bpf_ktime_get_tai_ns. xdp_str reads a request
// from the packet -- the string in bytes 0..31, the helper (32), the
// length (33, 1..32), flags (40..47) -- and writes the helper's return
// value at 48 and its result word at 56 (preset to a sentinel, so whether
// the helper wrote it on failure shows).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "slots.h"

enum { OP_STRNCMP_RODATA, OP_STRNCMP_LITERAL, OP_STRTOL, OP_STRTOUL, OP_STRNCMP_MID };

const char target[16] = "hello";
const char words[32] = "alpha\0beta\0gamma";

RESULT_SLOTS(clocks, 4)

SEC("xdp")
int xdp_str(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	void *e = (void *)(long)ctx->data_end;
	char buf[32];
	__u64 flags, res = 0x5555555555555555ull;
	__u32 n;
	long ret = -1;

	if ((void *)(p + 64) > e)
		return XDP_ABORTED;
	__builtin_memcpy(buf, p, sizeof(buf));
	n = (p[33] & 31) + 1;
	flags = *(__u64 *)(p + 40);
	switch (p[32]) {
	case OP_STRNCMP_RODATA:
		ret = bpf_strncmp(buf, n, target);
		break;
	case OP_STRNCMP_LITERAL:
		ret = bpf_strncmp(buf, n, "hello, world");
		break;
	case OP_STRTOL:
		ret = bpf_strtol(buf, n, flags, (long *)&res);
		break;
	case OP_STRTOUL:
		ret = bpf_strtoul(buf, n, flags, (unsigned long *)&res);
		break;
	case OP_STRNCMP_MID:
		ret = bpf_strncmp(buf, n, words + 6);
		break;
	}
	*(__s64 *)(p + 48) = ret;
	*(__u64 *)(p + 56) = res;
	return XDP_PASS;
}

// the NUMA node into slot 0; two TAI readings into slots 1 and 2
SEC("xdp")
int xdp_clocks(struct xdp_md *ctx)
{
	clocks_set(0, bpf_get_numa_node_id());
	clocks_set(1, bpf_ktime_get_tai_ns());
	clocks_set(2, bpf_ktime_get_tai_ns());
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
