/* Map-in-map maps of the must-reject corpus: an array of maps whose inner
 * template is an ARRAY of 8-byte values, and a hash of maps keyed by u64. */
#include "common.h"

struct inner_def {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
};

struct inner_def inner0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 2);
	__array(values, struct inner_def);
} outer SEC(".maps") = { .values = { [0] = &inner0 } };

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__type(key, __u64);
	__type(value, __u32);
	__uint(max_entries, 2);
	__array(values, struct inner_def);
} outer_hash SEC(".maps");
