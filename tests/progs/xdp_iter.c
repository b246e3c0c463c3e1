/* Open-coded numeric iterators (bpf_iter_num_new / _next / _destroy) in XDP
 * programs, as libbpf's bpf_for() / bpf_repeat() loops compile: a checksum
 * over the first bytes of the packet, a rewrite of the packet's payload by
 * index, nested loops with a per-iteration map update, and the kfuncs'
 * edge cases by hand (start > end: -EINVAL; a range over BPF_MAX_LOOPS:
 * -E2BIG; an empty range; next() after the end; ranges at INT_MIN/INT_MAX),
 * whose return codes and element counts land in a map. */
#include <linux/if_ether.h>
#include "iter_num.h"

#define E_MAX 26

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __s64);
    __uint(max_entries, E_MAX);
} iter_out SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 256);
} iter_hist SEC(".maps");

static __always_inline void put(__u32 k, __s64 v)
{
    __s64 *p = bpf_map_lookup_elem(&iter_out, &k);
    if (p)
        *p += v;
}

/* sum of the first 64 bytes (fewer in a shorter packet) */
SEC("xdp")
int xdp_iter_sum(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    __u64 sum = 0;
    int i, n = 0;

    iter_for(i, 0, 64) {
        if (data + i + 1 > end)
            break;
        sum += data[i] * (i + 1);
        n++;
    }
    put(0, sum);
    put(1, n);
    return sum & 1 ? XDP_DROP : XDP_PASS;
}

/* XOR byte i with i for i in [14, len), at most 200 of them */
SEC("xdp")
int xdp_iter_rewrite(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    int i;
    __u32 last = 0;

    iter_for(i, 0, 200) {
        __u8 *p = data + ETH_HLEN + i;
        if (p + 1 > end)
            break;
        *p ^= (__u8)(i + ETH_HLEN);
        last = i + ETH_HLEN;
    }
    put(2, last);
    return XDP_TX;
}

/* nested loops; a histogram of (byte % 16) over the first 8 bytes, five
 * times over, through a hash map updated in the inner loop */
SEC("xdp")
int xdp_iter_nested(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    int r = 0, j;
    __u64 one = 1;

    if (data + 8 > end)
        return XDP_ABORTED;
    iter_repeat(5) {
        r++;
        iter_for(j, 0, 8) {
            if (data + j + 1 > end)
                break;
            __u32 k = (data[j] & 15) + 16 * (r & 1);
            __u64 *c = bpf_map_lookup_elem(&iter_hist, &k);
            if (c)
                __sync_fetch_and_add(c, 1);
            else
                bpf_map_update_elem(&iter_hist, &k, &one, BPF_NOEXIST);
        }
    }
    put(3, r);
    return XDP_PASS;
}

static __always_inline int count(int start, int end, __u32 slot)
{
    struct bpf_iter_num it;
    int n = 0, *v;
    int ret = bpf_iter_num_new(&it, start, end);

    put(slot, ret);
    while ((v = bpf_iter_num_next(&it))) {
        n++;
        if (n == 1)
            put(slot + 2, *v);      /* the first element */
        if (n >= 70)
            break;
    }
    put(slot + 1, n);
    /* after the end (or a failed new) next() stays NULL */
    if (n < 70 && bpf_iter_num_next(&it))
        put(slot + 1, 1000);
    bpf_iter_num_destroy(&it);
    return n;
}

/* the kfuncs' edge cases, by hand */
SEC("xdp")
int xdp_iter_edge(struct xdp_md *ctx)
{
    __u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    int lo = 0;

    if (data + 1 <= end)
        lo = data[0] & 7;                   /* a range from the packet */
    count(5, 3, 4);                          /* start > end: -EINVAL, empty */
    count(0, 8 * 1024 * 1024 + 1, 7);        /* -E2BIG */
    count(7, 7, 10);                         /* empty range */
    count(-2147483647 - 1, -2147483647 + 3, 13);   /* from INT_MIN */
    count(2147483647 - 2, 2147483647, 16);   /* up to INT_MAX */
    count(lo, 9, 19);
    count(-3, 8 * 1024 * 1024 - 3, 22);      /* exactly BPF_MAX_LOOPS: fine (70 taken) */
    return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
