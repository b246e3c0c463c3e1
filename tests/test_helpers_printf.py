"""bpf_snprintf and bpf_trace_vprintk against the running kernel
(tests/progs/xdp_printf.c): the bytes printed, truncation and the return
value, packet by packet on both engines; the load-time format checks
(check_bpf_snprintf_call) with the kernel's messages."""
from __future__ import annotations

import os
import random
import struct

import pytest

from conftest import require
from netns_cases import dataplane_cases, kernel_cases_in
from support import diff as D
from support.verifier import load_verdicts

ENGINES = ["interp", "jit"]
HASHED = {12}          # %p: hashed with the kernel's per-boot key


def req(fmt: int, size: int, mask: int, words, s: bytes = b"hello", ip: bytes = bytes(range(1, 17))) -> bytes:
    pkt = bytearray(208)
    pkt[0], pkt[1], pkt[2] = fmt, size, mask
    for i, w in enumerate(words[:12]):
        struct.pack_into("<Q", pkt, 8 + 8 * i, w & (1 << 64) - 1)
    pkt[104:104 + len(s[:16])] = s[:16]
    pkt[120:136] = ip
    return bytes(pkt)


def _packets():
    rnd = random.Random(11)
    nums = [0, 1, -1, 42, -42, 7, 255, 0x7fffffff, -0x80000000, 0xffffffff, 1 << 40, -(1 << 40),
            (1 << 63) - 1, -(1 << 63), 0x123456789abcdef0, 99999, -99999]
    out = []
    for fmt in (0, 1, 2, 3, 8, 9, 13, 14):
        for _ in range(6):
            out.append(req(fmt, 64, 0, [rnd.choice(nums) for _ in range(12)]))
        out.append(req(fmt, rnd.randrange(0, 12), 0, [rnd.choice(nums) for _ in range(12)]))   # truncated
    for s in (b"hello", b"", b"0123456789abcdef", b"a b\tc"):
        out.append(req(4, 64, 0b111, [], s))
        out.append(req(10, 64, 0b11, [], s))
        out.append(req(16, 64, 0b10, [-5, 0, 0xabc], s))
    out.append(req(4, 64, 0, [0, 1, 8]))                      # not pointers: the empty string
    out.append(req(4, 20, 0b111, [], b"0123456789abcdef"))     # cut short
    for w in ([65, 66, 67, 68, 0x169], [0, 32, 126, 10, 255]):
        out.append(req(5, 64, 0, w))
    out.append(req(6, 64, 0b11110000, [1, 2, 3, 4]))
    out.append(req(6, 64, 0b11110000, [0] * 4, ip=bytes([10, 0, 0, 1]) + bytes(12)))
    out.append(req(6, 30, 0b11110000, [0] * 4))
    out.append(req(6, 64, 0, [0, 0, 0, 0, 0, 0, 0, 0]))        # unreadable addresses: zeros
    out.append(req(7, 64, 0, [0x1234, (1 << 64) - 1]))
    out.append(req(12, 64, 0, [0, (1 << 64) - 22]))             # NULL and ERR_PTR print raw
    out.append(req(15, 64, 0, [0x1234, 0]))
    out.append(req(11, 64, 0, []))
    out.append(req(11, 0, 0, []))
    out.append(req(17, 64, 0, [1]))
    out.append(req(18, 64, 0, [1]))
    return out


@pytest.fixture(scope="module")
def kernel_results(objs):
    require(os.geteuid() == 0, "root (bpf())")
    cases = [([], _packets())]
    return cases, kernel_cases_in(None, objs["xdp_printf"], "xdp_printf", cases)


@pytest.mark.parametrize("engine", ENGINES)
def test_printf_like_kernel(objs, kernel_results, engine):
    cases, kernel = kernel_results
    dp = dataplane_cases(objs["xdp_printf"], "xdp_printf", cases, engine=engine)
    diffs = D.compare(D.DiffCase("xdp_printf", "xdp_printf", cases[0][1]), kernel[0], dp[0])
    assert not diffs, "\n".join(diffs[:20])


def test_kernel_results_mean_something(kernel_results):
    cases, kernel = kernel_results
    outs = [bytes.fromhex(r["data_out"])[144:208].split(b"\0")[0] for r in kernel[0]["runs"]]
    rets = [struct.unpack_from("<q", bytes.fromhex(r["data_out"]), 136)[0] for r in kernel[0]["runs"]]
    assert b"0 0 0 0 10.0.0.1 010.000.000.001 0a00:0001" in b"".join(outs)
    assert b"hello|     hello|hello     |" in outs
    assert -22 in rets and max(rets) > 30


BAD_FORMATS = {
    "more_conversions": ('"%d %d"', 8),
    "unknown_conversion": ('"%q"', 8),
    "precision": ('"%.2d"', 8),
    "h_modifier": ('"%hd"', 8),
    "p_suffix": ('"%pa"', 8),
    "s_suffix": ('"%sx"', 8),
    "not_multiple_of_8": ('"%d"', 12),
    "nonprintable": ('"\\x01%d"', 8),
}


def _verdicts(clang, tmp_path, name, body):
    return load_verdicts(clang, tmp_path, name, body)


@pytest.mark.parametrize("name", sorted(BAD_FORMATS))
def test_snprintf_format_refusals_like_kernel(clang, tmp_path, root_required, name):
    fmt, data_len = BAD_FORMATS[name]
    body = f"""
SEC("xdp") int p(struct xdp_md *ctx)
{{ char out[16]; __u64 d[2] = {{1, 2}}; return bpf_snprintf(out, sizeof(out), {fmt}, d, {data_len}) > 0; }}"""
    kernel, dp = _verdicts(clang, tmp_path, name, body)
    assert kernel is not None, "the kernel accepted it"
    assert dp is not None, f"dataplane accepted what the kernel refused with: {kernel}"
    if name != "not_multiple_of_8":          # refused without a message of its own
        assert kernel in dp, f"kernel: {kernel!r}\ndataplane: {dp[-600:]}"


@pytest.mark.parametrize("engine", ENGINES)
def test_trace_vprintk_line_goes_where_trace_printk_does(objs, engine):
    """The kernel's text goes to trace_pipe (shared by the whole machine, so
    not read here); the dataplane's to the runner's trace sink, the same
    text the return value counts."""
    from dataplane.runtime.collection import Collection
    coll = Collection.load(str(objs["xdp_printf"]), engine=engine)
    _, out, _ = coll.run("xdp_printf", req(16, 64, 0b10, [-5, 0, 0xabc], b"hello"))
    assert coll.runner.trace_lines() == ["vprintk -5 hello abc"]
    assert struct.unpack_from("<q", out, 136)[0] == len("vprintk -5 hello abc")
    coll.run("xdp_printf", req(17, 64, 0, [1]))       # refused at run time: nothing printed
    assert coll.runner.trace_lines() == []
