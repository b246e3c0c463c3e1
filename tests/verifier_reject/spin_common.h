/* A map whose value carries a struct bpf_spin_lock (the kernel finds it
 * through the map's BTF) and a counter it protects. */
#include "common.h"

struct locked_val {
	__u64 packets;
	struct bpf_spin_lock lock;
	__u32 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked_val);
} locked SEC(".maps");

#define LOCKED_VALUE(v)                                        \
	__u32 __k = 0;                                         \
	struct locked_val *v = bpf_map_lookup_elem(&locked, &__k); \
	if (!v)                                                \
		return XDP_PASS;
