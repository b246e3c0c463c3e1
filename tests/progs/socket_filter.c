// Socket filter: keep only IPv4 TCP packets, using LD_ABS loads.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} accepted SEC(".maps");

SEC("socket")
int tcp_only(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *cnt;

	if (load_half(skb, offsetof(struct ethhdr, h_proto)) != ETH_P_IP)
		return 0;
	if (load_byte(skb, ETH_HLEN + offsetof(struct iphdr, protocol)) != IPPROTO_TCP)
		return 0;
	cnt = bpf_map_lookup_elem(&accepted, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	return skb->len;
}

char _license[] SEC("license") = "GPL";
