// An L4 load balancer in the shape of Katran's balancer_kern.c (written
// here, not copied): VIP lookup (exact port, then port-agnostic), a
// connection table in an LRU hash, consistent-hash ring -> real on a miss
// (jhash of the flow, the LRU updated), per-CPU packet/byte stats per VIP
// and for LRU misses, IPIP encapsulation with bpf_xdp_adjust_head and a
// freshly checksummed outer header, XDP_TX. Katran's inline decap is here
// too: an IPIP packet to an address in decap_dst is decapsulated (adjust
// head forward) and balanced again. Map-in-map is left out (Katran's
// per-CPU LRU maps): the connection table is its fallback LRU.
//
// bpf2bpf calls: decap, L4 parsing, the ring choice and encapsulation are
// __noinline subprograms, called with the ctx, stack pointers and scalars;
// a decapsulated packet recirculates through a tail call, as in Katran.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_VIPS 16
#define RING_SIZE 64
#define MAX_REALS 64
#define STATS_LRU (MAX_VIPS + 0)       /* v1: LRU misses, v2: TCP non-SYN misses */
#define STATS_DECAP (MAX_VIPS + 1)     /* v1: decapsulated packets */
#define STATS_PASS (MAX_VIPS + 2)      /* v1: not for a VIP, v2: not IPv4 */
#define MAX_CONN_RATE 1000000
#define ONE_SEC 1000000000ull
#define LRU_UDP_TIMEOUT 30000000000ull
#define MAX_PCKT 1500
#define F_SYN 1
#define F_HASH_NO_SRC_PORT 1           /* vip_meta.flags */

/* Katran's layout: IPv4 or IPv6 addresses in one 40-byte key */
struct flow_key {
	union {
		__be32 src;
		__be32 srcv6[4];
	};
	union {
		__be32 dst;
		__be32 dstv6[4];
	};
	union {
		__u32 ports;
		__u16 port16[2];
	};
	__u8 proto;
};

struct packet_description {
	struct flow_key flow;
	__u8 flags;
	__u8 tos;
	__u16 pkt_bytes;
};

struct vip_definition {
	__be32 vip;
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct vip_meta {
	__u32 flags;
	__u32 vip_num;
};

struct real_pos_lru {
	__u32 pos;
	__u64 atime;          /* UDP flows: last packet, bpf_ktime_get_ns */
};

struct real_definition {
	__be32 dst;
	__u32 flags;
};

struct ctl_value {
	__u8 mac[6];
	__u8 pad[2];
};

struct lb_stats {
	__u64 v1;
	__u64 v2;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct vip_definition);
	__type(value, struct vip_meta);
	__uint(max_entries, MAX_VIPS);
} vip_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct flow_key);
	__type(value, struct real_pos_lru);
	__uint(max_entries, 4096);
} lru_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, MAX_VIPS * RING_SIZE);
} ch_rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct real_definition);
	__uint(max_entries, MAX_REALS);
} reals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stats);
	__uint(max_entries, MAX_VIPS + 3);
} stats SEC(".maps");

/* v1: new flows this second, v2: when that second began (bpf_ktime_get_ns) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct lb_stats);
	__uint(max_entries, 1);
} conn_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct ctl_value);
	__uint(max_entries, 1);
} ctl_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, __u32);
	__uint(max_entries, 16);
} decap_dst SEC(".maps");

int balancer_ingress(struct xdp_md *ctx);

/* Katran recirculates a decapsulated packet: a tail call to the start */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(max_entries, 2);
	__array(values, int (void *));
} subprograms SEC(".maps") = {
	.values = { [0] = (void *)&balancer_ingress },
};

/* Bob Jenkins' lookup3 final mix over two words (the kernel's jhash_2words). */
static __always_inline __u32 rol32(__u32 w, unsigned s) { return (w << s) | (w >> (32 - s)); }

static __always_inline __u32 jhash_2words(__u32 a, __u32 b, __u32 initval)
{
	__u32 c = 0;
	a += 0xdeadbeef + (2 << 2) + initval;
	b += 0xdeadbeef + (2 << 2) + initval;
	c += 0xdeadbeef + (2 << 2) + initval;
	c ^= b; c -= rol32(b, 14);
	a ^= c; a -= rol32(c, 11);
	b ^= a; b -= rol32(a, 25);
	c ^= b; c -= rol32(b, 16);
	a ^= c; a -= rol32(c, 4);
	b ^= a; b -= rol32(a, 14);
	c ^= b; c -= rol32(b, 24);
	return c;
}

static __always_inline void stat_add(__u32 key, __u64 v1, __u64 v2)
{
	struct lb_stats *s = bpf_map_lookup_elem(&stats, &key);
	if (s) {
		s->v1 += v1;
		s->v2 += v2;
	}
}

static __always_inline __u16 csum_fold(__u64 csum)
{
	int i;
#pragma unroll
	for (i = 0; i < 4; i++)
		if (csum >> 16)
			csum = (csum & 0xffff) + (csum >> 16);
	return ~csum;
}

/* TCP/UDP ports and the SYN flag; -1 when the header is cut short. */
static __noinline int parse_l4(struct xdp_md *ctx, __u32 off, struct packet_description *pckt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (off > 64)
		return -1;
	if (pckt->flow.proto == IPPROTO_TCP) {
		struct tcphdr *tcp = data + off;
		if ((void *)(tcp + 1) > data_end)
			return -1;
		if (tcp->syn)
			pckt->flags |= F_SYN;
		pckt->flow.port16[0] = tcp->source;
		pckt->flow.port16[1] = tcp->dest;
		return 0;
	}
	if (pckt->flow.proto == IPPROTO_UDP) {
		struct udphdr *udp = data + off;
		if ((void *)(udp + 1) > data_end)
			return -1;
		pckt->flow.port16[0] = udp->source;
		pckt->flow.port16[1] = udp->dest;
		return 0;
	}
	return -1;
}

/* New flows per second above MAX_CONN_RATE skip the connection table. */
static __always_inline int under_flood(__u64 *now)
{
	__u32 key = 0;
	struct lb_stats *s = bpf_map_lookup_elem(&conn_rate, &key);

	if (!s)
		return 1;
	*now = bpf_ktime_get_ns();
	if (*now - s->v2 > ONE_SEC) {
		s->v1 = 1;
		s->v2 = *now;
		return 0;
	}
	return ++s->v1 > MAX_CONN_RATE;
}

/* Ring slot -> real for a new flow, remembered in the connection table. */
static __noinline int get_packet_dst(struct packet_description *pckt, struct vip_meta *vip, __u32 *real_pos)
{
	struct real_pos_lru new_lru = {};
	__u32 hash, key, *pos;
	__u64 now = 0;
	int flood;

	if (vip->vip_num >= MAX_VIPS)
		return -1;
	flood = under_flood(&now);
	hash = jhash_2words(pckt->flow.src, pckt->flow.ports, MAX_VIPS * RING_SIZE);
	key = vip->vip_num * RING_SIZE + hash % RING_SIZE;
	pos = bpf_map_lookup_elem(&ch_rings, &key);
	if (!pos)
		return -1;
	*real_pos = *pos;
	if (flood)
		return 0;
	new_lru.pos = *pos;
	if (pckt->flow.proto == IPPROTO_UDP)
		new_lru.atime = now;
	bpf_map_update_elem(&lru_cache, &pckt->flow, &new_lru, BPF_ANY);
	return 0;
}

/* Outer IPv4 header in front of the packet: the new Ethernet header goes
 * to the next hop in ctl_array, the source address encodes the flow's
 * source port (Katran's create_encap_ipv4_src). 0, or -1 on failure. */
static __noinline int encap_v4(struct xdp_md *ctx, __be32 daddr, __u32 sport, __u32 pkt_bytes, __u32 tos)
{
	void *data, *data_end;
	struct ethhdr *new_eth, *old_eth;
	struct iphdr *iph;
	struct ctl_value *cval;
	__u32 zero = 0;
	__u64 csum = 0;
	__u16 *w;
	int i;

	cval = bpf_map_lookup_elem(&ctl_array, &zero);
	if (!cval)
		return -1;
	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	new_eth = data;
	iph = data + sizeof(struct ethhdr);
	old_eth = data + sizeof(struct iphdr);
	if ((void *)(new_eth + 1) > data_end || (void *)(old_eth + 1) > data_end || (void *)(iph + 1) > data_end)
		return -1;
	__builtin_memcpy(new_eth->h_source, old_eth->h_dest, ETH_ALEN);
	__builtin_memcpy(new_eth->h_dest, cval->mac, ETH_ALEN);
	new_eth->h_proto = bpf_htons(ETH_P_IP);
	iph->version = 4;
	iph->ihl = 5;
	iph->frag_off = 0;
	iph->protocol = IPPROTO_IPIP;
	iph->check = 0;
	iph->tos = tos;
	iph->tot_len = bpf_htons(pkt_bytes + sizeof(struct iphdr));
	iph->id = 0;
	iph->daddr = daddr;
	iph->saddr = bpf_htonl(0xAC100000 | (sport & 0xffff));
	iph->ttl = 64;
	w = (__u16 *)iph;
#pragma clang loop unroll(full)
	for (i = 0; i < (int)sizeof(struct iphdr) / 2; i++)
		csum += w[i];
	iph->check = csum_fold(csum);
	return 0;
}

/* Strip an outer IPv4 header: the Ethernet header moves forward over it. */
static __noinline int decap_v4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *old_eth = data, *new_eth = data + sizeof(struct iphdr);

	if ((void *)(new_eth + 1) > data_end)
		return -1;
	__builtin_memcpy(new_eth->h_source, old_eth->h_source, ETH_ALEN);
	__builtin_memcpy(new_eth->h_dest, old_eth->h_dest, ETH_ALEN);
	new_eth->h_proto = bpf_htons(ETH_P_IP);
	if (bpf_xdp_adjust_head(ctx, (int)sizeof(struct iphdr)))
		return -1;
	stat_add(STATS_DECAP, 1, 0);
	return 0;
}

SEC("xdp")
int balancer_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct packet_description pckt = {};
	struct vip_definition vip = {};
	struct vip_meta *vip_info;
	struct real_pos_lru *lru;
	struct real_definition *dst;
	struct iphdr *iph;
	__u32 real_pos = 0;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP)) {
		stat_add(STATS_PASS, 0, 1);
		return XDP_PASS;
	}
	iph = data + sizeof(struct ethhdr);
	if ((void *)(iph + 1) > data_end)
		return XDP_DROP;
	if (iph->protocol == IPPROTO_IPIP) {
		__be32 outer = iph->daddr;
		if (!bpf_map_lookup_elem(&decap_dst, &outer))
			return XDP_PASS;
		if (decap_v4(ctx))
			return XDP_DROP;
		bpf_tail_call(ctx, &subprograms, 0);
		/* no recirculation program: balance the inner packet here */
		data = (void *)(long)ctx->data;
		data_end = (void *)(long)ctx->data_end;
		iph = data + sizeof(struct ethhdr);
		if ((void *)(iph + 1) > data_end)
			return XDP_DROP;
	}
	if (iph->ihl != 5 || (iph->frag_off & bpf_htons(0x3fff)))
		return XDP_DROP;
	pckt.flow.src = iph->saddr;
	pckt.flow.dst = iph->daddr;
	pckt.flow.proto = iph->protocol;
	pckt.tos = iph->tos;
	pckt.pkt_bytes = bpf_ntohs(iph->tot_len);
	if (pckt.pkt_bytes > MAX_PCKT)
		return XDP_DROP;
	if (parse_l4(ctx, sizeof(struct ethhdr) + sizeof(struct iphdr), &pckt))
		return XDP_PASS;

	vip.vip = pckt.flow.dst;
	vip.port = pckt.flow.port16[1];
	vip.proto = pckt.flow.proto;
	vip_info = bpf_map_lookup_elem(&vip_map, &vip);
	if (!vip_info) {
		vip.port = 0;
		vip_info = bpf_map_lookup_elem(&vip_map, &vip);
		if (!vip_info) {
			stat_add(STATS_PASS, 1, 0);
			return XDP_PASS;
		}
	}

	if (vip_info->flags & F_HASH_NO_SRC_PORT)
		pckt.flow.port16[0] = 0;
	lru = (pckt.flags & F_SYN) ? 0 : bpf_map_lookup_elem(&lru_cache, &pckt.flow);
	if (lru && pckt.flow.proto == IPPROTO_UDP) {
		__u64 now = bpf_ktime_get_ns();
		if (now - lru->atime > LRU_UDP_TIMEOUT)
			lru = 0;
		else
			lru->atime = now;
	}
	if (lru) {
		real_pos = lru->pos;
	} else {
		stat_add(STATS_LRU, 1, pckt.flow.proto == IPPROTO_TCP && !(pckt.flags & F_SYN));
		if (get_packet_dst(&pckt, vip_info, &real_pos))
			return XDP_DROP;
	}
	dst = bpf_map_lookup_elem(&reals, &real_pos);
	if (!dst || !dst->dst)
		return XDP_DROP;
	if (vip_info->vip_num < MAX_VIPS)
		stat_add(vip_info->vip_num, 1, pckt.pkt_bytes);
	if (encap_v4(ctx, dst->dst, bpf_ntohs(pckt.flow.port16[0]), pckt.pkt_bytes, pckt.tos))
		return XDP_DROP;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
