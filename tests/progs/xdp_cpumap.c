/* CPUMAP redirects the way Suricata's xdp_lb spreads flows over CPUs: a
 * symmetric hash of the addresses picks an index into cpus_available, whose
 * value is the CPU to redirect to through cpu_map (values: qsize only).
 * cpu_map_prog's entries are struct bpf_cpumap_val with a second-level
 * program (SEC("xdp/cpumap")). Flags exercise the fallback action of
 * bpf_redirect_map and the flags a CPUMAP refuses (BPF_F_BROADCAST). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_CPUS 8

struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, MAX_CPUS);
} cpu_map SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_CPUMAP);
    __type(key, __u32);
    __type(value, struct bpf_cpumap_val);
    __uint(max_entries, MAX_CPUS);
} cpu_map_prog SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, MAX_CPUS);
} cpus_available SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __type(key, __u32);
    __type(value, __u32);
    __uint(max_entries, 1);
} cpus_count SEC(".maps");

/* what the second-level program saw, per CPU: frames and bytes */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __type(key, __u32);
    __type(value, __u64);
    __uint(max_entries, 2);
} second_stats SEC(".maps");

SEC("xdp")
int xdp_cpu_lb(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    __u32 key0 = 0, *count, *cpu, idx, hash;

    if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    count = bpf_map_lookup_elem(&cpus_count, &key0);
    if (!count || !*count)
        return XDP_PASS;
    hash = (ip->saddr ^ ip->daddr) * 2654435761u;
    idx = (hash >> 8) % *count;
    cpu = bpf_map_lookup_elem(&cpus_available, &idx);
    if (!cpu)
        return XDP_ABORTED;
    switch (ip->protocol) {
    case IPPROTO_TCP:   /* no fallback: a missing entry aborts */
        return bpf_redirect_map(&cpu_map, *cpu, 0);
    case IPPROTO_UDP:   /* a missing entry passes */
        return bpf_redirect_map(&cpu_map_prog, *cpu, XDP_PASS);
    case IPPROTO_ICMP:  /* a CPUMAP takes no broadcast: XDP_ABORTED */
        return bpf_redirect_map(&cpu_map, *cpu, BPF_F_BROADCAST);
    default:
        return bpf_redirect_map(&cpu_map, *cpu, XDP_DROP);
    }
}

SEC("xdp/cpumap")
int xdp_on_cpu(struct xdp_md *ctx)
{
    __u32 k = 0;
    __u64 *v = bpf_map_lookup_elem(&second_stats, &k);
    if (v)
        *v += 1;
    k = 1;
    v = bpf_map_lookup_elem(&second_stats, &k);
    if (v)
        *v += ctx->data_end - ctx->data;
    return XDP_DROP;    /* the cpumap kthread frees it (no skb for the stack) */
}

char _license[] SEC("license") = "GPL";
