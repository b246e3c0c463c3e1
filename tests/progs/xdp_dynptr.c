/* Header parsing through the XDP dynptr kfuncs, as bpfilter-style generated
 * programs read packets: bpf_dynptr_from_xdp, then bpf_dynptr_slice (read
 * only; with a buffer for the Ethernet header, without for TCP/UDP) and
 * bpf_dynptr_slice_rdwr (the IPv4 header: TTL decremented, checksum fixed
 * up). Short packets make slices NULL. After bpf_xdp_adjust_tail shrinks a
 * long packet the dynptr keeps its creation size: a slice over the cut end
 * is the buffer, holding what the packet still has (bpf_xdp_copy_buf).
 * bpf_dynptr_from_xdp with flags fails with -EINVAL and a null dynptr.
 * The helpers bpf_dynptr_read / bpf_dynptr_write swap the MAC addresses
 * and record their return codes (past the end, flags); bpf_dynptr_data is
 * NULL for an XDP dynptr. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
                              __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
                                   __u32 buffer__szk) __ksym;

enum { S_NOETH, S_IPV4, S_IPV6, S_OTHER, S_NOIP, S_TCP, S_UDP, S_NOL4, S_TAIL_BUF, S_TAIL_PKT, S_TAIL_NULL,
       S_FLAGS_RET, S_FLAGS_SLICE, S_READ_OK, S_READ_PAST, S_WRITE_OK, S_WRITE_FLAGS, S_DATA_NULL, S_MAX };

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, S_MAX);
} dyn_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u16);
    __type(value, __u64);
    __uint(max_entries, 64);
} dports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} tail_bytes SEC(".maps");

static __always_inline void bump(__u32 k, __u64 by)
{
    __u64 *v = bpf_map_lookup_elem(&dyn_stats, &k);
    if (v)
        *v += by;
}

SEC("xdp")
int xdp_dyn_parse(struct xdp_md *ctx)
{
    struct bpf_dynptr ptr;
    struct ethhdr ebuf, *eth;
    struct tcphdr *tcp;
    struct udphdr ubuf, *udp;
    struct iphdr *ip;
    struct ipv6hdr *ip6;
    __u32 l4off, len, *tb;
    __u8 tail[4] = {0xee, 0xee, 0xee, 0xee}, *t;
    __u16 dport = 0;
    __u64 one = 1, *c;
    int verdict = XDP_PASS;

    if (bpf_dynptr_from_xdp(ctx, 0, &ptr))
        return XDP_ABORTED;
    eth = bpf_dynptr_slice(&ptr, 0, &ebuf, sizeof(ebuf));
    if (!eth) {
        bump(S_NOETH, 1);
        return XDP_DROP;
    }
    if (eth->h_proto == bpf_htons(ETH_P_IP)) {
        ip = bpf_dynptr_slice_rdwr(&ptr, sizeof(*eth), NULL, sizeof(*ip));
        if (!ip) {
            bump(S_NOIP, 1);
            return XDP_DROP;
        }
        bump(S_IPV4, 1);
        if (ip->ttl > 1) {
            __u32 sum = (__u16)~ip->check;
            sum += (__u16)~bpf_htons((__u16)ip->ttl << 8);
            ip->ttl--;
            sum += bpf_htons((__u16)ip->ttl << 8);
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);
            ip->check = ~sum;
        }
        l4off = sizeof(*eth) + (ip->ihl & 0xf) * 4;
        if (ip->protocol == IPPROTO_TCP) {
            tcp = bpf_dynptr_slice(&ptr, l4off, NULL, sizeof(*tcp));
            if (!tcp) {
                bump(S_NOL4, 1);
                return XDP_DROP;
            }
            bump(S_TCP, 1);
            dport = tcp->dest;
            verdict = XDP_TX;
        } else if (ip->protocol == IPPROTO_UDP) {
            udp = bpf_dynptr_slice(&ptr, l4off, &ubuf, sizeof(ubuf));
            if (!udp) {
                bump(S_NOL4, 1);
                return XDP_DROP;
            }
            bump(S_UDP, bpf_ntohs(udp->len));
            dport = udp->dest;
        }
    } else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
        ip6 = bpf_dynptr_slice(&ptr, sizeof(*eth), NULL, sizeof(*ip6));
        if (!ip6) {
            bump(S_NOIP, 1);
            return XDP_DROP;
        }
        bump(S_IPV6, ip6->hop_limit);
    } else {
        bump(S_OTHER, 1);
    }
    if (dport) {
        c = bpf_map_lookup_elem(&dports, &dport);
        if (c)
            *c += 1;
        else
            bpf_map_update_elem(&dports, &dport, &one, BPF_ANY);
    }
    /* shrink a long packet: the dynptr keeps its size, the slice over the cut end is the buffer */
    len = ctx->data_end - ctx->data;
    if (len > 200 && len < 4000 && bpf_xdp_adjust_tail(ctx, -2) == 0) {
        t = bpf_dynptr_slice(&ptr, len - 4, tail, sizeof(tail));
        if (!t) {
            bump(S_TAIL_NULL, 1);
        } else {
            __u32 k = 0;
            bump(t == tail ? S_TAIL_BUF : S_TAIL_PKT, 1);
            tb = bpf_map_lookup_elem(&tail_bytes, &k);
            if (tb)
                *tb = t[0] | t[1] << 8 | t[2] << 16 | (__u32)t[3] << 24;
        }
        /* without a buffer there is nothing to return */
        if (!bpf_dynptr_slice(&ptr, len - 4, NULL, 4))
            bump(S_TAIL_NULL, 1);
    }
    return verdict;
}

SEC("xdp")
int xdp_dyn_flags(struct xdp_md *ctx)
{
    struct bpf_dynptr ptr;
    __u8 buf[2];
    long r = bpf_dynptr_from_xdp(ctx, 1, &ptr);

    bump(S_FLAGS_RET, (__u64)-r);
    if (bpf_dynptr_slice(&ptr, 0, buf, sizeof(buf)))
        bump(S_FLAGS_SLICE, 1);
    return XDP_PASS;
}

SEC("xdp")
int xdp_dyn_helpers(struct xdp_md *ctx)
{
    struct bpf_dynptr ptr;
    __u8 macs[12], tmp[6];
    long r;

    if (bpf_dynptr_from_xdp(ctx, 0, &ptr))
        return XDP_ABORTED;
    r = bpf_dynptr_read(macs, sizeof(macs), &ptr, 0, 0);
    bump(S_READ_OK, (__u64)-r + 100);
    if (r)
        return XDP_DROP;
    r = bpf_dynptr_read(tmp, sizeof(tmp), &ptr, ctx->data_end - ctx->data - 2, 0);
    bump(S_READ_PAST, (__u64)-r);
    __builtin_memcpy(tmp, macs, 6);
    __builtin_memcpy(macs, macs + 6, 6);
    __builtin_memcpy(macs + 6, tmp, 6);
    r = bpf_dynptr_write(&ptr, 0, macs, sizeof(macs), 0);
    bump(S_WRITE_OK, (__u64)-r + 100);
    r = bpf_dynptr_write(&ptr, 0, macs, 2, 1);
    bump(S_WRITE_FLAGS, (__u64)-r);
    if (!bpf_dynptr_data(&ptr, 0, 4))
        bump(S_DATA_NULL, 1);
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
