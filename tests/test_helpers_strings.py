"""bpf_strncmp, bpf_strtol, bpf_strtoul, bpf_get_numa_node_id and
bpf_ktime_get_tai_ns against the running kernel (tests/progs/xdp_strings.c):
return values and written results packet by packet on both engines, and
the verifier's ARG_PTR_TO_CONST_STR rules (what it refuses and the
kernel's message)."""
from __future__ import annotations

import os
import struct
import time

import pytest

from conftest import require
from netns_cases import dataplane_cases, kernel_cases_in
from support import diff as D
from support.verifier import load_verdicts

ENGINES = ["interp", "jit"]
OP_STRNCMP_RODATA, OP_STRNCMP_LITERAL, OP_STRTOL, OP_STRTOUL, OP_STRNCMP_MID = range(5)


def req(s: bytes, op: int, n: int, flags: int = 0) -> bytes:
    """The request packet: string, helper, length (1..32), flags."""
    pkt = bytearray(64)
    pkt[:len(s)] = s[:32]
    pkt[32], pkt[33] = op, (n - 1) & 31
    struct.pack_into("<Q", pkt, 40, flags)
    return bytes(pkt)


STRINGS = [b"hello", b"hellO", b"hell", b"help", b"hello!", b"", b"\xff", b"Hello", b"hello\0xyz",
           b"hello, world", b"hello, worle", b"beta", b"bet", b"betaa", b"\x80abc"]
NUMBERS = [b"0", b"123", b"-123", b"  42", b"\t\n\v\f\r 7", b"\xa07", b"+5", b"0x1f", b"0X1F", b"0x", b"0xg",
           b"017", b"019", b"-0", b"-", b" ", b"abc", b"9223372036854775807", b"9223372036854775808",
           b"-9223372036854775808", b"-9223372036854775809", b"18446744073709551615", b"18446744073709551616",
           b"ff", b"FFz", b"1" * 31, b"0" * 30 + b"12", b"12abc", b"--1", b"- 1"]


def _packets():
    out = []
    for s in STRINGS:
        for op in (OP_STRNCMP_RODATA, OP_STRNCMP_LITERAL, OP_STRNCMP_MID):
            for n in (1, 3, 4, 5, 6, 13, 32):
                out.append(req(s, op, n))
    for s in NUMBERS:
        for op in (OP_STRTOL, OP_STRTOUL):
            for flags in (0, 8, 10, 16):
                for n in sorted({1, 2, len(s) or 1, 32}):
                    out.append(req(s, op, n, flags))
            for flags in (2, 7, 32, 1 << 32):              # bad base, bits beyond the base mask
                out.append(req(s, op, 32, flags))
    return out


@pytest.fixture(scope="module")
def kernel_results(objs):
    require(os.geteuid() == 0, "root (bpf())")
    cases = [([], _packets())]
    return cases, kernel_cases_in(None, objs["xdp_strings"], "xdp_str", cases)


@pytest.mark.parametrize("engine", ENGINES)
def test_string_helpers_like_kernel(objs, kernel_results, engine):
    cases, kernel = kernel_results
    dp = dataplane_cases(objs["xdp_strings"], "xdp_str", cases, engine=engine)
    diffs = D.compare(D.DiffCase("xdp_strings", "xdp_str", cases[0][1]), kernel[0], dp[0])
    assert not diffs, "\n".join(diffs[:20])


def test_kernel_results_mean_something(kernel_results):
    """The cases reach every outcome: equal, less, greater; parsed numbers,
    -EINVAL and -ERANGE."""
    _, kernel = kernel_results
    rets = {struct.unpack_from("<q", bytes.fromhex(r["data_out"]), 48)[0] for r in kernel[0]["runs"]}
    assert {0, 1, -1, -22, -34} <= rets and max(rets) >= 20


def _slots(result) -> dict[int, int]:
    return {struct.unpack("<I", bytes.fromhex(e["key"]))[0]: struct.unpack("<Q", bytes.fromhex(e["value"]))[0]
            for e in result["maps"]["clocks"]}


@pytest.mark.parametrize("engine", ENGINES)
def test_numa_node_and_tai_clock(objs, engine):
    """numa node: the kernel's value (0 on a machine without NUMA). TAI: a
    clock, not a fixed value, so its properties -- nonzero, not going
    back, and TAI - REALTIME equal to the kernel's TAI offset (what
    CLOCK_TAI in userspace shows) within the time the runs took."""
    require(os.geteuid() == 0, "root (bpf())")
    cases = [([], [bytes(64)])]
    offset = time.clock_gettime_ns(time.CLOCK_TAI) - time.clock_gettime_ns(time.CLOCK_REALTIME)
    sides = {}
    for side, run in (("kernel", lambda: kernel_cases_in(None, objs["xdp_strings"], "xdp_clocks", cases)),
                      ("dataplane", lambda: dataplane_cases(objs["xdp_strings"], "xdp_clocks", cases,
                                                            engine=engine))):
        before = time.clock_gettime_ns(time.CLOCK_REALTIME)
        res = run()[0]
        after = time.clock_gettime_ns(time.CLOCK_REALTIME)
        sides[side] = (_slots(res), before, after)
    assert sides["kernel"][0][0] == sides["dataplane"][0][0]
    for side, (slots, before, after) in sides.items():
        t1, t2 = slots[1], slots[2]
        assert t1 and t2 >= t1, (side, t1, t2)
        # generous slack: the clocks are read on either side of a whole load+run
        assert before + offset - 10**9 <= t1 <= after + offset + 10**9, (side, t1 - before - offset)


# ---------------------------------------------------------------- the verifier's const-string rules

BAD = {
    "stack_string": r"""
SEC("xdp") int p(struct xdp_md *ctx)
{ char s[8] = "abc"; char b[4] = {}; return bpf_strncmp(b, 4, s) ? XDP_DROP : XDP_PASS; }""",
    "writable_map": r"""
char w[8] = "abc";
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = {}; return bpf_strncmp(b, 4, w) ? XDP_DROP : XDP_PASS; }""",
    "variable_offset": r"""
const char r[16] = "abcdefgh";
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = {}; __u32 i = ctx->rx_queue_index & 3; return bpf_strncmp(b, 4, r + i) ? XDP_DROP : XDP_PASS; }""",
    "unterminated": r"""
const char r[4] SEC(".rodata.noterm") = "abcd";
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = {}; return bpf_strncmp(b, 4, r) ? XDP_DROP : XDP_PASS; }""",
    "scalar": r"""
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = {}; return bpf_strncmp(b, 4, (const char *)(long)ctx->rx_queue_index) ? XDP_DROP : XDP_PASS; }""",
    "xdp_output_in_xdp": r"""
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(max_entries, 4); __uint(key_size, 4); __uint(value_size, 4); } ev SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx)
{ __u64 v = 0; return bpf_xdp_output(ctx, &ev, 0, &v, 8) ? XDP_DROP : XDP_PASS; }""",
    "strtol_unaligned_res": r"""
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = "12"; char r[16] = {}; return bpf_strtol(b, 4, 0, (long *)(r + 4)) ? XDP_DROP : XDP_PASS; }""",
    "strtol_short_res": r"""
const char dummy[4] = "x";
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } m SEC(".maps");
SEC("xdp") int p(struct xdp_md *ctx)
{ __u32 k = 0; char b[4] = "12"; long *v = bpf_map_lookup_elem(&m, &k); if (!v) return 0;
  return bpf_strtol(b, 4, 0, v) ? XDP_DROP : XDP_PASS; }""",
}
GOOD = {
    "rodata_offset": r"""
const char r[16] = "abc\0defgh";
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = {}; return bpf_strncmp(b, 4, r + 4) ? XDP_DROP : XDP_PASS; }""",
    "strtoul_stack": r"""
SEC("xdp") int p(struct xdp_md *ctx)
{ char b[4] = "12"; unsigned long v; return bpf_strtoul(b, 4, 0, &v) == 2 && v == 12 ? XDP_PASS : XDP_DROP; }""",
}


def _verdicts(clang, tmp_path, name, body):
    return load_verdicts(clang, tmp_path, name, body)


@pytest.mark.parametrize("name", sorted(BAD))
def test_const_str_refusals_like_kernel(clang, tmp_path, root_required, name):
    kernel, dp = _verdicts(clang, tmp_path, name, BAD[name])
    assert kernel is not None, "the kernel accepted it"
    assert dp is not None, f"dataplane accepted what the kernel refused with: {kernel}"
    assert kernel in dp, f"kernel: {kernel!r}\ndataplane: {dp[-600:]}"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_const_str_acceptances_like_kernel(clang, tmp_path, root_required, name):
    assert _verdicts(clang, tmp_path, name, GOOD[name]) == (None, None)
