/* A ring buffer for the ringbuf-dynptr cases of the must-reject corpus. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");
char _license[] SEC("license") = "GPL";
