// Map helper semantics driven by packets, for differential tests: the bytes
// after the Ethernet header say which map, which operation, which flags, key
// and value; the program returns the helper's result (errno values or the
// value found), so return codes and final contents can be compared.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct op {
	__u8 map;      /* 0 hash, 1 array, 2 percpu array, 3 lru hash, 4 queue */
	__u8 op;       /* 0 update/push, 1 delete/pop, 2 lookup/peek */
	__u8 flags;
	__u8 pad;
	__u32 key;
	__u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} h SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} pa SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, __u64);
	__uint(max_entries, 3);
} q SEC(".maps");

static __always_inline long keyed(void *map, struct op *o)
{
	__u32 key = o->key;
	__u64 val = o->value, *p;

	if (o->op == 0)
		return bpf_map_update_elem(map, &key, &val, o->flags);
	if (o->op == 1)
		return bpf_map_delete_elem(map, &key);
	p = bpf_map_lookup_elem(map, &key);
	if (!p)
		return -1000;
	if (o->flags)
		*p += o->flags;     /* write through the pointer */
	return (long)(*p & 0xffff);
}

SEC("xdp")
int map_ops(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct op o;
	__u64 v;
	long r;

	if (data + 14 + sizeof(o) > data_end)
		return XDP_PASS;
	__builtin_memcpy(&o, data + 14, sizeof(o));
	switch (o.map) {
	case 0: r = keyed(&h, &o); break;
	case 1: r = keyed(&a, &o); break;
	case 2: r = keyed(&pa, &o); break;
	case 3: r = keyed(&lru, &o); break;
	case 4:
		v = o.value;
		if (o.op == 0)
			r = bpf_map_push_elem(&q, &v, o.flags);
		else if (o.op == 1)
			r = bpf_map_pop_elem(&q, &v) ?: (long)(v & 0xffff);
		else
			r = bpf_map_peek_elem(&q, &v) ?: (long)(v & 0xffff);
		break;
	default:
		return XDP_ABORTED;
	}
	return (int)r;
}

char _license[] SEC("license") = "GPL";
