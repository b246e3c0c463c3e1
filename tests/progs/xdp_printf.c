// bpf_snprintf and bpf_trace_vprintk: the format chosen by packet byte 0,
// the output size by byte 1 (0..64), twelve u64 arguments from bytes
// 8..103, of which those whose bit is set in byte 2 are replaced by a
// pointer: to a stack copy of the string in bytes 104..119 (bits 0-3) or
// to the address bytes 120..135 in the packet (bits 4-7: %pI4/%pI6).
// The return value lands at 136, the output at 144..207.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define F(i, fmt, n) case i: ret = bpf_snprintf(out, size, fmt, data, (n) * 8); break;

SEC("xdp")
int xdp_printf(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	void *e = (void *)(long)ctx->data_end;
	__u64 data[12];
	char out[64] = {}, str[16];
	__u32 size, i;
	long ret = -1;

	if ((void *)(p + 208) > e)
		return XDP_ABORTED;
	__builtin_memcpy(data, p + 8, sizeof(data));
	__builtin_memcpy(str, p + 104, sizeof(str));
	for (i = 0; i < 8; i++)
		if (p[2] & (1 << i))
			data[i] = i < 4 ? (__u64)(long)str : (__u64)(long)(p + 120);
	size = p[1];
	if (size > 64)
		size = 64;
	switch (p[0]) {
	F(0, "%d %i %u %x %X", 5)
	F(1, "%ld %lld %llu %lx %llX", 5)
	F(2, "[%5d] [%-5d] [%05d] [%+d] [% d]", 5)
	F(3, "[%8x] [%-8X] [%08llx] [%-08d]", 4)
	F(4, "%s|%10s|%-10s|", 3)
	F(5, "%c%c%c [%3c] [%-3c]", 5)
	F(6, "%d %d %d %d %pI4 %pi4 %pI6 %pi6", 8)
	F(7, "%px %px", 2)
	F(8, "100%% %d%%", 1)
	F(9, "%d %d %d %d %d %d %d %d %d %d %d %d", 12)
	F(10, "%pks %pus.", 2)
	F(11, "no args", 0)
	F(12, "%p %p", 2)
	F(13, "%d, %d", 3)
	F(14, "%+05d|%-+5d|%- 5d|% 05d", 4)
	F(15, "%ps %pS.", 2)
	case 16: {
		char fmt[] = "vprintk %d %s %llx";
		ret = bpf_trace_vprintk(fmt, sizeof(fmt), data, 24);
		break;
	}
	case 17: {
		char fmt[] = "vprintk %d %d";
		ret = bpf_trace_vprintk(fmt, sizeof(fmt), data, 8);   /* more conversions than data: -EINVAL */
		break;
	}
	case 18: {
		char fmt[] = "vprintk %q";
		ret = bpf_trace_vprintk(fmt, sizeof(fmt), data, 8);
		break;
	}
	}
	*(__s64 *)(p + 136) = ret;
	__builtin_memcpy(p + 144, out, sizeof(out));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
