// __kconfig externs of several kinds and sizes (libbpf lays them out by
// alignment, then size, then name in the read-only .kconfig map) and
// bpf_jiffies64: the program copies what it reads into a map.
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern unsigned long CONFIG_HZ __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_IPV6 __kconfig;
extern char CONFIG_LOCALVERSION[8] __kconfig;
extern int CONFIG_NR_CPUS __kconfig;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static __always_inline void put(__u32 k, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&out, &k);
	if (p)
		*p = v;
}

SEC("xdp")
int xdp_kconfig(struct xdp_md *ctx)
{
	__u64 j0 = bpf_jiffies64(), j1;

	put(0, CONFIG_HZ);
	put(1, LINUX_KERNEL_VERSION);
	put(2, CONFIG_BPF_SYSCALL);
	put(3, CONFIG_IPV6);
	put(4, CONFIG_LOCALVERSION[0] | CONFIG_LOCALVERSION[1] << 8 | CONFIG_LOCALVERSION[7] << 16);
	put(5, CONFIG_NR_CPUS);
	j1 = bpf_jiffies64();
	put(6, j0 != 0 && j1 - j0 < 2);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
