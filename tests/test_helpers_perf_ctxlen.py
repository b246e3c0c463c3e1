"""bpf_perf_event_output in XDP programs is the kernel's bpf_xdp_event_output:
BPF_F_CTXLEN_MASK asks for the first bytes of the packet after the data.

Compared with the running kernel: the errors it returns before touching
the map slot (-EINVAL for unknown flag bits, -EFAULT for more packet than
there is, -E2BIG for an index past the map), on both engines. A valid call
finds no perf event in the kernel's slot here (-ENOENT: the test opens
none), so what the dataplane records is checked on its own: the data,
then exactly the packet's first bytes."""
from __future__ import annotations

import struct

import pytest

from support.progs import compile_inline

ENGINES = ["interp", "jit"]
PROG = r"""
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(max_entries, 4); __uint(key_size, 4);
         __uint(value_size, 4); } ev SEC(".maps");
SEC("xdp") int pe(struct xdp_md *ctx)
{
    void *d = (void *)(long)ctx->data, *e = (void *)(long)ctx->data_end;
    __u64 flags, meta;
    if (d + 16 > e)
        return XDP_ABORTED;
    flags = *(__u64 *)d;
    meta = *(__u64 *)(d + 8);
    *(__s64 *)(d + 8) = bpf_perf_event_output(ctx, &ev, flags, &meta, sizeof(meta));
    return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
"""
BPF_F_CURRENT_CPU = 0xFFFFFFFF
EINVAL, EFAULT, E2BIG = 22, 14, 7


def pkt(flags: int, length: int = 64) -> bytes:
    body = bytes((i * 7) & 0xFF for i in range(length - 16))
    return struct.pack("<QQ", flags, 0x1122334455667788) + body


def ctxlen(n: int) -> int:
    return n << 32


ERRORS = [pkt(1 << 52), pkt(ctxlen(65)), pkt(ctxlen(0xFFFFF)), pkt(ctxlen(64) | 4), pkt(ctxlen(1) | 9),
          pkt(ctxlen(200), 199)]


def _ret(out: bytes) -> int:
    return struct.unpack_from("<q", out, 8)[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_errors_like_kernel(clang, tmp_path, root_required, engine):
    from dataplane.io.kload import KernelObject
    from dataplane.runtime.collection import Collection
    obj = compile_inline(clang, tmp_path, "pe", PROG)
    coll = Collection.load(str(obj), engine=engine)
    with KernelObject.load(obj) as k:
        for p in ERRORS:
            kr = k.run("pe", p)
            retval, out, _ = coll.run("pe", p)
            assert (retval, out.hex()) == (kr.retval, kr.data_out.hex()), p[:8].hex()
            assert _ret(out) in (-EINVAL, -EFAULT, -E2BIG)
    assert coll.runner.perf_records() == []


@pytest.mark.parametrize("engine", ENGINES)
def test_record_carries_the_packet_prefix(clang, tmp_path, engine):
    from dataplane.runtime.collection import Collection
    coll = Collection.load(str(compile_inline(clang, tmp_path, "pe", PROG)), engine=engine)
    for n, length in ((0, 64), (1, 64), (13, 64), (64, 64), (100, 1500)):
        p = pkt(ctxlen(n) | BPF_F_CURRENT_CPU, length)
        _, out, _ = coll.run("pe", p)
        assert _ret(out) == 0
        [(_idx, rec)] = coll.runner.perf_records()
        assert rec == struct.pack("<Q", 0x1122334455667788) + p[:n], n
