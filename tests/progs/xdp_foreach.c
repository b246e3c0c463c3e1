/* bpf_for_each_map_elem over the map kinds that support it: an ARRAY
 * (index order: the callback records the order it saw), a PERCPU_ARRAY, a
 * HASH, a PERCPU_HASH and an LRU_HASH (bucket order is each side's own, so
 * what is recorded does not depend on it: sums, counts, maxima), with a
 * callback context on the stack, early stops (return 1) at a packet-chosen
 * element, a callback that deletes what it visits, a NULL context, and
 * flags != 0 (-EINVAL). The packet fills the maps
 * first, so each run sees the previous runs' elements. Results land in
 * fe_out. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map;

#define O_MAX 32

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __s64);
    __uint(max_entries, O_MAX);
} fe_out SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 16);
} fe_arr SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 8);
} fe_pcpu SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 64);
} fe_hash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __type(key, __u16);
    __type(value, __u32);
    __uint(max_entries, 32);
} fe_phash SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 128);
} fe_lru SEC(".maps");

struct ctx {
    __u64 sum;
    __u64 count;
    __u64 max;
    __u64 order;        /* ARRAY: the keys seen, 4 bits each */
    __u32 stop_at;
    __u32 deleted;
};

static __always_inline void put(__u32 k, __s64 v)
{
    __s64 *p = bpf_map_lookup_elem(&fe_out, &k);
    if (p)
        *p += v;
}

static long arr_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct ctx *c)
{
    c->sum += *val;
    c->count++;
    c->order = (c->order << 4) | (*key & 15);
    *val += 1;                      /* values are writable */
    return *key == c->stop_at;      /* 1: stop here */
}

static long hash_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct ctx *c)
{
    c->sum += *val + *key;
    c->count++;
    if (*val > c->max)
        c->max = *val;
    return 0;
}

static long del_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct ctx *c)
{
    if (*key & 1) {
        if (bpf_map_delete_elem(map, key) == 0)
            c->deleted++;
    }
    c->count++;
    return 0;
}

static long phash_cb(struct bpf_map *map, __u16 *key, __u32 *val, struct ctx *c)
{
    c->sum += *val * 3 + *key;
    c->count++;
    return 0;
}

static long null_cb(struct bpf_map *map, __u32 *key, __u64 *val, void *c)
{
    return 0;
}

/* fill: one array slot, one element in each hash map, from the packet */
static __always_inline int fill(struct xdp_md *xdp)
{
    __u8 *data = (void *)(long)xdp->data, *end = (void *)(long)xdp->data_end;
    __u32 k;
    __u64 v;
    __u16 hk;
    __u32 hv;

    if (data + 8 > end)
        return -1;
    k = data[0] & 15;
    v = data[1] + 1;
    bpf_map_update_elem(&fe_arr, &k, &v, BPF_ANY);
    k = data[2] & 7;
    bpf_map_update_elem(&fe_pcpu, &k, &v, BPF_ANY);
    k = data[3] | (data[4] << 8);
    bpf_map_update_elem(&fe_hash, &k, &v, BPF_ANY);
    bpf_map_update_elem(&fe_lru, &k, &v, BPF_ANY);
    hk = data[5] & 31;
    hv = data[6];
    bpf_map_update_elem(&fe_phash, &hk, &hv, BPF_ANY);
    return data[7];
}

SEC("xdp")
int xdp_fe_array(struct xdp_md *xdp)
{
    struct ctx c = {};
    int b = fill(xdp);
    long n;

    if (b < 0)
        return XDP_ABORTED;
    c.stop_at = b & 15;
    n = bpf_for_each_map_elem(&fe_arr, arr_cb, &c, 0);
    put(0, n); put(1, c.sum); put(2, c.count); put(3, c.order);
    __builtin_memset(&c, 0, sizeof(c));
    c.stop_at = 99;
    n = bpf_for_each_map_elem(&fe_pcpu, arr_cb, &c, 0);
    put(4, n); put(5, c.sum); put(6, c.order);
    return XDP_PASS;
}

SEC("xdp")
int xdp_fe_hash(struct xdp_md *xdp)
{
    struct ctx c = {};
    long n;

    if (fill(xdp) < 0)
        return XDP_ABORTED;
    n = bpf_for_each_map_elem(&fe_hash, hash_cb, &c, 0);
    put(7, n); put(8, c.sum); put(9, c.count); put(10, c.max);
    __builtin_memset(&c, 0, sizeof(c));
    n = bpf_for_each_map_elem(&fe_phash, phash_cb, &c, 0);
    put(11, n); put(12, c.sum);
    __builtin_memset(&c, 0, sizeof(c));
    n = bpf_for_each_map_elem(&fe_lru, hash_cb, &c, 0);
    put(13, n); put(14, c.sum); put(15, c.max);
    return XDP_PASS;
}

/* every fourth packet: delete the odd keys while walking the hash */
SEC("xdp")
int xdp_fe_delete(struct xdp_md *xdp)
{
    struct ctx c = {};
    int b = fill(xdp);
    long n;

    if (b < 0)
        return XDP_ABORTED;
    if ((b & 3) == 0) {
        n = bpf_for_each_map_elem(&fe_hash, del_cb, &c, 0);
        put(16, n); put(17, c.deleted); put(18, c.count);
    }
    __builtin_memset(&c, 0, sizeof(c));
    n = bpf_for_each_map_elem(&fe_hash, hash_cb, &c, 0);
    put(7, n); put(8, c.sum);
    return XDP_PASS;
}

SEC("xdp")
int xdp_fe_misc(struct xdp_md *xdp)
{
    __u32 k = 0;

    if (fill(xdp) < 0)
        return XDP_ABORTED;
    put(21, bpf_for_each_map_elem(&fe_arr, null_cb, NULL, 0));
    put(22, bpf_for_each_map_elem(&fe_hash, null_cb, NULL, 1));    /* flags: -EINVAL */
    return bpf_map_lookup_elem(&fe_hash, &k) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
