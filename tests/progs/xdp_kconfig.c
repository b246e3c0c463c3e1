// __kconfig externs of several kinds and sizes (libbpf lays them out by
// alignment, then size, then name in the read-only .kconfig map) and
// bpf_jiffies64: the program copies what it reads into a map.
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "slots.h"

extern unsigned long CONFIG_HZ __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_IPV6 __kconfig;
extern char CONFIG_LOCALVERSION[8] __kconfig;
extern int CONFIG_NR_CPUS __kconfig;

RESULT_SLOTS(out, 8)

SEC("xdp")
int xdp_kconfig(struct xdp_md *ctx)
{
	__u64 j0 = bpf_jiffies64(), j1;

	out_set(0, CONFIG_HZ);
	out_set(1, LINUX_KERNEL_VERSION);
	out_set(2, CONFIG_BPF_SYSCALL);
	out_set(3, CONFIG_IPV6);
	out_set(4, CONFIG_LOCALVERSION[0] | CONFIG_LOCALVERSION[1] << 8 | CONFIG_LOCALVERSION[7] << 16);
	out_set(5, CONFIG_NR_CPUS);
	j1 = bpf_jiffies64();
	out_set(6, j0 != 0 && j1 - j0 < 2);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
