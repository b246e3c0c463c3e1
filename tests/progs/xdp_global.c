// Global data (.data/.rodata/.bss), bpf-to-bpf calls and a bounded loop.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 verdict_cfg = XDP_PASS;      /* .rodata */
const volatile __u8 salt[4] = { 0xde, 0xad, 0xbe, 0xef };
__u64 packets = 0;                                 /* .bss */
__u64 bytes_seen = 0;
__u32 hash_seed = 0x9e3779b9;                      /* .data */
__u16 last_len = 0xffff;

static __noinline __u32 mix(__u32 h, __u32 v)
{
	h ^= v + salt[v & 3];
	h *= 0x01000193;
	return h;
}

/* A global function: verified on its own by the kernel (BTF_FUNC_GLOBAL). */
__noinline int hash_bytes(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	__u32 h = hash_seed;
	int i;

	if (!ctx)
		return 0;
	for (i = 0; i < 16; i++) {
		if ((void *)(p + i + 1) > data_end)
			break;
		h = mix(h, p[i]);
	}
	return h & 0x7fffffff;
}

static __noinline __u64 account(__u32 len)
{
	packets++;
	bytes_seen += len;
	last_len = len;
	return packets;
}

SEC("xdp")
int xdp_global(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	account(len);
	hash_seed = hash_bytes(ctx);
	return verdict_cfg;
}

char _license[] SEC("license") = "GPL";
