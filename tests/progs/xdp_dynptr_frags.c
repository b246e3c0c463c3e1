/* XDP dynptrs over multi-buffer packets (SEC("xdp.frags")): the dynptr
 * spans the linear part and every fragment (its size is xdp_get_buff_len
 * at creation). The program parses Ethernet/IPv4/UDP through slices, then
 * runs a script from a config map: slices with and without a buffer (a
 * slice inside one piece points into the packet, one spanning pieces is the
 * buffer, filled by bpf_xdp_copy_buf), writable slices (writes through a
 * buffer never reach the packet), bpf_dynptr_read / bpf_dynptr_write across
 * fragments, bpf_xdp_adjust_tail (the old dynptr keeps its size) and a new
 * dynptr. Each result records what the slice was (NULL, buffer, packet) and
 * the bytes it showed. xdp_dynf_linear is the same code without frags. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
                              __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
                                   __u32 buffer__szk) __ksym;

#define NOPS 8
#define BUF 64
#define SMALL 16

enum { OP_NONE, OP_SLICE, OP_SLICE_NOBUF, OP_RDWR, OP_RDWR_NOBUF, OP_READ, OP_WRITE, OP_TAIL, OP_NEW, OP_LEN };
enum { IS_NULL, IS_BUF, IS_PKT };

struct op {
	__u32 kind;
	__u32 off;
	__s32 arg;       /* fill byte for writes, adjust_tail delta */
	__u32 pad;
};

struct script {
	struct op ops[NOPS];
};

struct result {
	__s64 ret[NOPS];
	__u64 len, ipv4, udp, udp_len, saddr, linear;
	__u8 seen[NOPS][BUF];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct script);
} scripts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct result);
} results SEC(".maps");

static __always_inline __s64 kind_of(const void *p, const void *buf)
{
	return !p ? IS_NULL : p == buf ? IS_BUF : IS_PKT;
}

static __always_inline int run(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct script *s = bpf_map_lookup_elem(&scripts, &zero);
	struct result *r = bpf_map_lookup_elem(&results, &zero);
	struct bpf_dynptr ptr;
	struct ethhdr ebuf, *eth;
	struct iphdr ibuf, *ip;
	struct udphdr *udp;
	__u8 buf[BUF], small[SMALL], *p;
	int i;

	if (!s || !r)
		return XDP_ABORTED;
	if (bpf_dynptr_from_xdp(ctx, 0, &ptr))
		return XDP_ABORTED;
	r->len = bpf_xdp_get_buff_len(ctx);
	eth = bpf_dynptr_slice(&ptr, 0, &ebuf, sizeof(ebuf));
	if (eth && eth->h_proto == bpf_htons(ETH_P_IP)) {
		ip = bpf_dynptr_slice(&ptr, sizeof(*eth), &ibuf, sizeof(ibuf));
		if (ip) {
			r->ipv4++;
			r->saddr = ip->saddr;
			if (ip->protocol == IPPROTO_UDP) {
				udp = bpf_dynptr_slice(&ptr, sizeof(*eth) + (ip->ihl & 0xf) * 4, NULL, sizeof(*udp));
				if (udp) {
					r->udp++;
					r->udp_len = bpf_ntohs(udp->len);
				}
			}
		}
	}
	for (i = 0; i < NOPS; i++) {
		struct op *o = &s->ops[i];
		__s64 ret = 0;

		__builtin_memset(buf, 0xee, BUF);
		__builtin_memset(small, 0xdd, SMALL);
		switch (o->kind) {
		case OP_SLICE:
			p = bpf_dynptr_slice(&ptr, o->off, buf, BUF);
			ret = kind_of(p, buf);
			if (p)
				__builtin_memcpy(r->seen[i], p, BUF);
			break;
		case OP_SLICE_NOBUF:
			p = bpf_dynptr_slice(&ptr, o->off, NULL, SMALL);
			ret = kind_of(p, NULL);
			if (p)
				__builtin_memcpy(r->seen[i], p, SMALL);
			break;
		case OP_RDWR:
			p = bpf_dynptr_slice_rdwr(&ptr, o->off, small, SMALL);
			ret = kind_of(p, small);
			if (p) {
				__builtin_memcpy(r->seen[i], p, SMALL);
				__builtin_memset(p, (__u8)o->arg, SMALL);
			}
			break;
		case OP_RDWR_NOBUF:
			p = bpf_dynptr_slice_rdwr(&ptr, o->off, NULL, SMALL);
			ret = kind_of(p, NULL);
			if (p)
				__builtin_memset(p, (__u8)o->arg, SMALL);
			break;
		case OP_READ:
			ret = bpf_dynptr_read(buf, BUF, &ptr, o->off, 0);
			__builtin_memcpy(r->seen[i], buf, BUF);
			break;
		case OP_WRITE:
			__builtin_memset(buf, (__u8)o->arg, BUF);
			buf[0] = i;
			ret = bpf_dynptr_write(&ptr, o->off, buf, BUF, 0);
			break;
		case OP_TAIL:
			ret = bpf_xdp_adjust_tail(ctx, o->arg);
			break;
		case OP_NEW:
			ret = bpf_dynptr_from_xdp(ctx, 0, &ptr);
			break;
		case OP_LEN:
			ret = bpf_xdp_get_buff_len(ctx);
			break;
		default:
			continue;
		}
		r->ret[i] = ret;
	}
	r->linear = ctx->data_end - ctx->data;
	return XDP_PASS;
}

SEC("xdp.frags")
int xdp_dynf(struct xdp_md *ctx)
{
	return run(ctx);
}

SEC("xdp")
int xdp_dynf_linear(struct xdp_md *ctx)
{
	return run(ctx);
}

char _license[] SEC("license") = "GPL";
