"""Helpers against the kernel: the same object runs in BPF_PROG_TEST_RUN
and in the dataplane; retval and output bytes must be identical."""
from __future__ import annotations

import os
import random
import struct

import pytest

from dataplane.runtime.collection import Collection
from support.progs import compile_inline

ADJUST = r"""
#ifdef NO_META
#define bpf_xdp_adjust_meta(ctx, off) 1001
#endif
SEC("xdp")
int adj(struct xdp_md *ctx)
{
    void *d = (void *)(long)ctx->data, *e = (void *)(long)ctx->data_end;
    __s32 op, off;
    if (d + 16 > e)
        return 1000;
    op = *(__s32 *)(d + 8);
    off = *(__s32 *)(d + 12);
    if (op == 0)
        return bpf_xdp_adjust_head(ctx, off);
    if (op == 1)
        return bpf_xdp_adjust_tail(ctx, off);
    return bpf_xdp_adjust_meta(ctx, off);
}
char _license[] SEC("license") = "GPL";
"""

CSUM = r"""
SEC("xdp")
int csum(struct xdp_md *ctx)
{
    __u8 *p = (void *)(long)ctx->data;
    void *e = (void *)(long)ctx->data_end;
    __u32 from[16], to[16];
    __u32 fs, ts, seed;
    __s64 r;
    if ((void *)p + 300 > e)
        return 1000;
    __builtin_memcpy(from, p + 16, sizeof(from));
    __builtin_memcpy(to, p + 160, sizeof(to));
    fs = (p[0] & 0x3c) | (p[2] & 3);
    ts = p[1] & 0x3c;
    seed = *(__u32 *)(p + 4);
    r = bpf_csum_diff(from, fs, to, ts, seed);
    *(__s64 *)(p + 8) = r;
    return (__u32)r;
}
char _license[] SEC("license") = "GPL";
"""


def _kernel_and_dp(clang, tmp_path, name, src, prog, packets):
    from dataplane.io import kbpf
    obj = compile_inline(clang, tmp_path, name, src)
    coll = Collection.load(obj)
    ps = coll.programs[prog].spec
    kp = kbpf.prog_load(ps.insns, 6, "GPL")
    try:
        for pkt in packets:
            k = kbpf.prog_test_run(kp.fd, pkt)
            retval, out, _ = coll.run(prog, pkt)
            assert (retval, out.hex()) == (k.retval, k.data_out.hex()), pkt[:16].hex()
    finally:
        kp.close()


def test_adjust_limits_match_kernel(clang, tmp_path, root_required):
    packets = []
    for length in (14, 64, 1500, 3520):
        for op, offs in [(0, [-216, -217, -256, -4, 0, 4, length - 14, length - 13]),
                         (1, [3520 - length, 3521 - length, -(length - 14), -(length - 13), 4, -4, 0]),
                         (2, [-4, -3, -8, -252, -256, -216, -220, 4, 0])]:
            for off in offs:
                if length < 16:
                    continue
                pkt = bytearray(os.urandom(length))
                struct.pack_into("<ii", pkt, 8, op, off)
                packets.append(bytes(pkt))
    from dataplane.errors import VerifierError
    from dataplane.io import kbpf
    from support.kernel_build import kernel_or_refused, Refused
    obj = compile_inline(clang, tmp_path, "adjust", ADJUST)
    ps = Collection.load(obj, verify=False).programs["adj"].spec
    k = kernel_or_refused(kbpf.prog_load, ps.insns, 6, "GPL", log_level=1)
    if isinstance(k, Refused):
        # this kernel build refuses bpf_xdp_adjust_meta in XDP: dataplane must
        # refuse the object alike, and head/tail are compared without it
        with pytest.raises(VerifierError, match=k.line):
            Collection.load(obj)
        src, packets = "#define NO_META\n" + ADJUST, [p for p in packets if struct.unpack_from("<i", p, 8)[0] != 2]
    else:
        k.close()
        src = ADJUST
    _kernel_and_dp(clang, tmp_path, "adjust_used", src, "adj", packets)


def test_csum_diff_matches_kernel(clang, tmp_path, root_required):
    rnd = random.Random(7)
    packets = []
    for i in range(60):
        pkt = bytearray(rnd.randbytes(300))
        if i % 5 == 0:
            pkt[0] = 0          # push only
        if i % 7 == 0:
            pkt[1] = 0          # pull only
        if i % 11 == 0:
            pkt[2] = 0          # sizes stay multiples of 4 (else -EINVAL)
        packets.append(bytes(pkt))
    packets.append(bytes(300))                       # all zero
    packets.append(b"\x08\x08\x00\x00" + b"\xff" * 296)
    _kernel_and_dp(clang, tmp_path, "csum", CSUM, "csum", packets)


PRINTK = r"""
SEC("xdp")
int pr(struct xdp_md *ctx)
{
    char s[] = "abc";
    bpf_printk("n=%d u=%u x=%x", -5, 7, 255);
    bpf_printk("ll=%lld s=%s", -1LL, s);
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""


def test_trace_printk(clang, tmp_path):
    coll = Collection.load(compile_inline(clang, tmp_path, "printk", PRINTK))
    coll.run("pr", bytes(64))
    assert coll.runner.trace_lines() == ["n=-5 u=7 x=ff", "ll=-1 s=abc"]
    assert coll.runner.trace_lines() == []


REDIRECT = r"""
struct {
    __uint(type, BPF_MAP_TYPE_DEVMAP);
    __uint(key_size, 4);
    __uint(value_size, 4);
    __uint(max_entries, 4);
} ports SEC(".maps");
SEC("xdp")
int fwd(struct xdp_md *ctx)
{
    void *d = (void *)(long)ctx->data, *e = (void *)(long)ctx->data_end;
    if (d + 16 > e)
        return XDP_ABORTED;
    return bpf_redirect_map(&ports, *(__u32 *)(d + 8), *(__u32 *)(d + 12));
}
char _license[] SEC("license") = "GPL";
"""


def test_redirect_map_verdicts(clang, tmp_path):
    coll = Collection.load(compile_inline(clang, tmp_path, "redir", REDIRECT))
    coll.maps["ports"].update(struct.pack("<I", 1), struct.pack("<I", 1))   # lo

    def run(key, flags):
        return coll.run("fwd", bytes(8) + struct.pack("<II", key, flags) + bytes(48))[0]

    assert run(1, 0) == 4 and coll.runner.redirect == ("map", 1, 0)
    assert run(2, 0) == 0                       # missing entry: flags' low bits = XDP_ABORTED
    assert run(2, 2) == 2                       # fallback XDP_PASS
    assert run(2, 1) == 1                       # fallback XDP_DROP
    assert run(1, 1 << 5) == 0                  # unknown flag -> XDP_ABORTED
