// Socket filter seen from the network header: BPF_PROG_TEST_RUN hands
// socket filters an skb whose data starts after the Ethernet header (it was
// pulled by eth_type_trans), so offsets here are L3 offsets.  Keeps IPv4
// TCP/UDP (truncated to 64 bytes for TCP), counts bytes per protocol and
// reads __sk_buff fields (len, protocol, pkt_type).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 256);
} bytes_by_proto SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 64);
} seen_src SEC(".maps");

SEC("socket")
int l3_filter(struct __sk_buff *skb)
{
	__u32 proto, src, one = 1;
	__u64 *b;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if ((load_byte(skb, 0) >> 4) != 4)
		return 0;
	proto = load_byte(skb, offsetof(struct iphdr, protocol));
	b = bpf_map_lookup_elem(&bytes_by_proto, &proto);
	if (b)
		__sync_fetch_and_add(b, skb->len);
	src = load_word(skb, offsetof(struct iphdr, saddr));
	bpf_map_update_elem(&seen_src, &src, &one, BPF_ANY);
	if (proto == IPPROTO_TCP)
		return skb->len < 64 ? skb->len : 64;
	if (proto == IPPROTO_UDP)
		return skb->len + skb->pkt_type;
	return 0;
}

char _license[] SEC("license") = "GPL";
