/* Result slots of the differential test programs: an array map of __u64
 * the tests read back after a run (the kernel's and dataplane's values
 * compare slot by slot), with NAME_set(k, v) and NAME_add(k, v). */
#ifndef TESTS_PROGS_SLOTS_H
#define TESTS_PROGS_SLOTS_H
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define RESULT_SLOTS(name, n)                                            \
	struct {                                                         \
		__uint(type, BPF_MAP_TYPE_ARRAY);                        \
		__uint(max_entries, n);                                  \
		__type(key, __u32);                                      \
		__type(value, __u64);                                    \
	} name SEC(".maps");                                             \
	static __always_inline __attribute__((unused)) void name##_set(__u32 k, __u64 v)         \
	{                                                                \
		__u64 *c = bpf_map_lookup_elem(&name, &k);               \
		if (c)                                                   \
			*c = v;                                          \
	}                                                                \
	static __always_inline __attribute__((unused)) void name##_add(__u32 k, __u64 v)         \
	{                                                                \
		__u64 *c = bpf_map_lookup_elem(&name, &k);               \
		if (c)                                                   \
			*c += v;                                         \
	}

#endif
