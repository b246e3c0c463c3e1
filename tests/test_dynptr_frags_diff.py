"""XDP dynptrs over multi-buffer packets against the running kernel.

tests/progs/xdp_dynptr_frags.c makes a dynptr of packets from 60 to 9000
bytes (BPF_PROG_TEST_RUN: 3520 linear bytes, then 4096-byte page
fragments), parses Ethernet/IPv4/UDP through slices and runs a script per
packet size: slices inside the linear part, inside a fragment, spanning the
linear end or two fragments (the buffer, filled across pieces), at and past
the end; writable slices (through the buffer the writes are lost, through a
fragment they land); bpf_dynptr_read / bpf_dynptr_write across pieces;
bpf_xdp_adjust_tail shrinking into the linear part or growing the last
fragment, with the old dynptr (its creation size) and a new one. Every
result (NULL / buffer / packet, the bytes shown, return codes) and the
output bytes (fragments included) must be the kernel's, on both engines.
"""
from __future__ import annotations

import os
import random
import struct

import pytest

from support import diff as D
from support.kernel_build import Refused, assert_dataplane_refuses, kernel_or_refused
from conftest import require
from netns_cases import dataplane_cases, kernel_cases_in

ENGINES = ["interp", "jit"]
SLICE, SLICE_NOBUF, RDWR, RDWR_NOBUF, READ, WRITE, TAIL, NEW, LEN = range(1, 10)
IS_NULL, IS_BUF, IS_PKT = 0, 1, 2
L, PAGE = 3520, 4096
SIZES = [60, 1500, 3520, 3521, 3600, 7616, 7617, 9000]


def _script(ops) -> tuple:
    ops = list(ops)[:8] + [(0, 0, 0)] * (8 - len(ops))
    return ("scripts", bytes(4), b"".join(struct.pack("<IIiI", k, off & 0xFFFFFFFF, arg, 0) for k, off, arg in ops))


def _scripts(n: int) -> list[tuple]:
    frags = max(0, n - L)
    return [
        # read-only slices: start, across the linear end, first fragment, across two fragments, the end, past it
        _script([(SLICE, 0, 0), (SLICE, L - 32, 0), (SLICE, L, 0), (SLICE, L + PAGE - 32, 0),
                 (SLICE, n - 64, 0), (SLICE, n - 63, 0), (SLICE_NOBUF, L - 8, 0), (SLICE_NOBUF, L + 100, 0)]),
        # writable slices and the helpers
        _script([(RDWR, L - 8, 0x11), (RDWR, L + 10, 0x22), (RDWR_NOBUF, L + PAGE - 4, 0x33),
                 (RDWR_NOBUF, 100, 0x44), (READ, L - 32, 0), (READ, n - 64, 0), (READ, n - 63, 0),
                 (WRITE, L - 20, 0x55)]),
        # shrink into the linear part: the old dynptr keeps its size, a new one has the new size
        _script([(TAIL, 0, -(frags + 10)), (SLICE, n - 64, 0), (READ, n - 64, 0), (SLICE, n - 80, 0),
                 (NEW, 0, 0), (SLICE, n - 64, 0), (SLICE, n - 74, 0), (LEN, 0, 0)]),
        # grow the last fragment (or the linear end), old and new dynptr past the old end
        _script([(TAIL, 0, 100), (SLICE, n + 36, 0), (WRITE, n + 36, 0x66), (NEW, 0, 0),
                 (SLICE, n + 36, 0), (WRITE, n + 36, 0x77), (SLICE_NOBUF, n + 84, 0), (LEN, 0, 0)]),
    ]


def _packet(n: int) -> bytes:
    """UDP over IPv4 of n bytes (payload random), or random bytes under 42."""
    rnd = random.Random(n)
    return D.ipv4("udp", "10.0.0.1", "10.0.0.2", 53, 5353, n, rnd) if n >= 42 else bytes(rnd.randrange(256) for _ in range(n))


def _cases():
    return [([s], [_packet(n)]) for n in SIZES for s in _scripts(n)]


def _results(out: dict) -> list[tuple]:
    v = bytes.fromhex(out["maps"]["results"][0]["value"])
    return list(struct.unpack_from("<8q", v))


@pytest.fixture(scope="module")
def kernel_results(objs):
    require(os.geteuid() == 0, "root (bpf())")
    return {prog: kernel_or_refused(kernel_cases_in, None, objs["xdp_dynptr_frags"], prog, _cases())
            for prog in ("xdp_dynf", "xdp_dynf_linear")}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("prog", ["xdp_dynf", "xdp_dynf_linear"])
def test_dynptr_over_fragments_same_as_kernel(objs, kernel_results, prog, engine):
    if isinstance(kernel_results[prog], Refused):    # this kernel build refuses it: so must dataplane
        return assert_dataplane_refuses(objs["xdp_dynptr_frags"], prog, kernel_results[prog])
    cases = _cases()
    dp = dataplane_cases(objs["xdp_dynptr_frags"], prog, cases, engine=engine)
    failures = []
    for i, ((upd, packets), k, d) in enumerate(zip(cases, kernel_results[prog], dp)):
        diffs = D.compare(D.DiffCase("xdp_dynptr_frags", prog, packets, tag=str(i)), k, d)
        if diffs:
            failures.append(f"case {i} ({len(packets[0])}B, script {i % 4}) [{engine}]:\n  " + "\n  ".join(diffs[:6]))
    assert not failures, "\n".join(failures[:10])


def test_cases_reach_every_kind_of_slice(kernel_results):
    """The scripts must see NULL slices, buffers and direct pointers, and
    direct pointers into fragments (a 9000-byte packet's slice at 3520)."""
    outs = kernel_results["xdp_dynf"]
    if isinstance(outs, Refused):     # the slices are reached through bpf_dynptr_slice_rdwr
        assert "bpf_dynptr_slice_rdwr" in outs.line
        return
    kinds = set()
    for out in outs:
        kinds |= set(_results(out))
    assert {IS_NULL, IS_BUF, IS_PKT} <= kinds
    big = SIZES.index(9000) * 4
    first = _results(outs[big])
    # start: packet; across the linear end: buffer; in the first fragment: packet; across pages: buffer
    assert first[:4] == [IS_PKT, IS_BUF, IS_PKT, IS_BUF] and first[5] == IS_NULL and first[6:] == [IS_NULL, IS_PKT]
    rd = _results(outs[big + 1])
    assert rd[:4] == [IS_BUF, IS_PKT, IS_NULL, IS_PKT] and rd[4:7] == [0, 0, -7] and rd[7] == 0
    # the headers were parsed on every packet that has them
    for n, out in zip((s for s in SIZES for _ in range(4)), outs):
        v = bytes.fromhex(out["maps"]["results"][0]["value"])
        length, ipv4, udp, udp_len = struct.unpack_from("<4Q", v, 64)
        assert length == n and ipv4 == udp == 1 and udp_len == n - 34
