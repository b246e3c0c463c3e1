/* Map-in-map the way load balancers use it (Katran's lru_mapping shape):
 *  - lru_mapping: ARRAY_OF_MAPS, one LRU flow cache per CPU, filled by user
 *    space; a CPU without one falls back to fallback_cache (the verifier
 *    sees two different maps in one register);
 *  - lru_pcpu: ARRAY_OF_MAPS of LRU_PERCPU_HASH counters (Katran's
 *    global_lru_maps), also filled by user space;
 *  - vip_reals: HASH_OF_MAPS keyed by VIP address, inner ARRAY of backends;
 *  - proto_stats: ARRAY_OF_MAPS whose slots are set by libbpf's `.values`
 *    initialiser (tcp_stats in slot 6, udp_stats in slot 17).
 * A packet to a VIP gets a backend (flow cache hit, else hash of the flow
 * into the VIP's backend array), its destination rewritten and XDP_TX. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct flow_key {
    __u32 src, dst;
    __u16 sport, dport;
    __u8 proto;
    __u8 pad[3];
};

struct real_pos {
    __u32 real;
    __u32 hits;
};
typedef struct flow_key flow_key_t;
typedef struct real_pos real_pos_t;



struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 4);
    __array(values, struct {
        __uint(type, BPF_MAP_TYPE_LRU_HASH);
        __type(key, flow_key_t);
        __type(value, real_pos_t);
        __uint(max_entries, 64);
    });
} lru_mapping SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 2);
    __array(values, struct {
        __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
        __type(key, __u32);
        __type(value, __u64);
        __uint(max_entries, 32);
    });
} lru_pcpu SEC(".maps");

struct reals_def {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 4);
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 8);
    __array(values, struct reals_def);
} vip_reals SEC(".maps");

struct stats_def {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 2);
};

struct stats_def tcp_stats SEC(".maps"), udp_stats SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 18);
    __array(values, struct stats_def);
} proto_stats SEC(".maps") = {
    .values = { [IPPROTO_TCP] = &tcp_stats, [IPPROTO_UDP] = &udp_stats },
};


/* clang 14 emits a struct reached only through __array's pointer as a
 * forward declaration, and reuses the pointer type node for every map that
 * names the same `struct flow_key *`: the inner definition below names the
 * types through typedefs, so this outer-level map gets the full structs and
 * the inner's forward declarations resolve to them. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __type(key, struct flow_key);
    __type(value, struct real_pos);
    __uint(max_entries, 64);
} fallback_cache SEC(".maps");

static __always_inline __u32 flow_hash(const struct flow_key *k)
{
    __u32 h = k->src * 2654435761u;
    h ^= k->dst + 0x9e3779b9 + (h << 6) + (h >> 2);
    h ^= ((__u32)k->sport << 16 | k->dport) * 40503u;
    return h ^ (h >> 15);
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct flow_key fk = {};
    __u32 cpu, key, proto;
    void *lru, *reals, *stats;
    struct real_pos *pos, npos = {};
    __u64 *cnt;

    if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
        return XDP_PASS;
    fk.src = ip->saddr;
    fk.dst = ip->daddr;
    fk.proto = ip->protocol;
    if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
        struct udphdr *l4 = (void *)(ip + 1);   /* ports sit where UDP's do in TCP too */
        if ((void *)(l4 + 1) > data_end)
            return XDP_DROP;
        fk.sport = l4->source;
        fk.dport = l4->dest;
    }
    proto = ip->protocol;
    stats = bpf_map_lookup_elem(&proto_stats, &proto);
    if (stats) {
        key = 0;
        cnt = bpf_map_lookup_elem(stats, &key);
        if (cnt)
            __sync_fetch_and_add(cnt, 1);
        key = 1;
        cnt = bpf_map_lookup_elem(stats, &key);
        if (cnt)
            __sync_fetch_and_add(cnt, data_end - data);
    }
    key = 0;
    void *pc = bpf_map_lookup_elem(&lru_pcpu, &key);
    if (pc) {
        __u64 one = 1, *c = bpf_map_lookup_elem(pc, &fk.dst);
        if (c)
            *c += 1;
        else
            bpf_map_update_elem(pc, &fk.dst, &one, BPF_ANY);
    }
    reals = bpf_map_lookup_elem(&vip_reals, &fk.dst);
    if (!reals)
        return XDP_PASS;
    cpu = bpf_get_smp_processor_id();
    lru = bpf_map_lookup_elem(&lru_mapping, &cpu);
    if (!lru)
        lru = &fallback_cache;
    pos = bpf_map_lookup_elem(lru, &fk);
    if (pos) {
        pos->hits++;
        npos.real = pos->real;
    } else {
        key = flow_hash(&fk) & 3;
        __u32 *real = bpf_map_lookup_elem(reals, &key);
        if (!real || !*real)
            return XDP_DROP;
        npos.real = *real;
        npos.hits = 1;
        bpf_map_update_elem(lru, &fk, &npos, BPF_ANY);
    }
    /* rewrite the destination (checksum updated incrementally) */
    __u32 old = ip->daddr;
    ip->daddr = npos.real;
    __u32 sum = (__u16)~ip->check;
    sum += (__u16)~(old & 0xffff) + (__u16)~(old >> 16);
    sum += (npos.real & 0xffff) + (npos.real >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    ip->check = ~sum;
    return XDP_TX;
}

char _license[] SEC("license") = "GPL";
