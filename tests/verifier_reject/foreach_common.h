/* bpf_for_each_map_elem for the must-reject corpus. */
#include "common.h"
struct bpf_map;
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64);
	 __uint(max_entries, 8); } fe_h SEC(".maps");
char _license[] SEC("license") = "GPL";
