"""Multi-buffer XDP and the byte helpers against the kernel.

BPF_PROG_TEST_RUN spreads a packet longer than the 3520-byte linear room
over page fragments (up to MAX_SKB_FRAGS, ENOMEM beyond) for every XDP
program, frags-aware or not. tests/progs/xdp_bytes.c runs a script of
bpf_xdp_load_bytes / store_bytes / get_buff_len / adjust_tail calls,
chosen per packet size to hit the linear part, the boundary, fragments,
the ends, the offset limits; the kernel and the dataplane (both engines)
must return the same values, leave the same bytes (data_out includes the
fragments) and the same recorded results.
"""
from __future__ import annotations

import os
import random
import struct

import pytest

from support import diff as D
from conftest import require
from netns_cases import dataplane_cases, kernel_cases_in

ENGINES = ["interp", "jit"]
LOAD, STORE, TAIL, LEN, COPY = 1, 2, 3, 4, 5
LINEAR = 3520
SIZES = [60, 1500, 3520, 3521, 3600, 4000, 7616, 7617, 9000, 20000, 73152]


def _script(ops) -> tuple:
    ops = list(ops)[:8] + [(0, 0, 0, 0)] * (8 - len(ops))
    return ("scripts", bytes(4), b"".join(struct.pack("<IIIi", k, off & 0xFFFFFFFF, ln, d) for k, off, ln, d in ops))


def _scripts(n: int) -> list[tuple]:
    """Scripts for a packet of n bytes."""
    frags = max(0, n - LINEAR)
    return [
        # reads: start, across the linear end, first fragment, the last bytes, past the end, offset limits
        _script([(LOAD, 0, 64, 0), (LOAD, LINEAR - 20, 40, 0), (LOAD, LINEAR, 64, 0), (LOAD, n - 64, 64, 0),
                 (LOAD, n - 63, 64, 0), (LOAD, 0x10000, 1, 0), (LOAD, 0xffff, 1, 0), (LEN, 0, 0, 0)]),
        # writes across pieces, then read back
        _script([(STORE, LINEAR - 10, 30, 0x5a), (STORE, n - 30, 30, 0x33), (STORE, n - 29, 30, 0),
                 (LOAD, LINEAR - 16, 48, 0), (COPY, 14, 64, max(0, n - 4200)), (LOAD, max(0, n - 4200), 64, 0),
                 (STORE, 4096 + 3000, 64, 0x77), (LOAD, 4096 + 2990, 64, 0)]),
        # the tail: grow, grow past the room, shrink, shrink everything
        _script([(TAIL, 0, 0, 100), (LEN, 0, 0, 0), (TAIL, 0, 0, 5000), (TAIL, 0, 0, -50), (LEN, 0, 0, 0),
                 (TAIL, 0, 0, -(n + 100 - 50 - 13)), (TAIL, 0, 0, -(n + 100 - 50 - 14)), (LEN, 0, 0, 0)]),
        # shrink past every fragment into the linear part, then grow the linear end
        _script([(TAIL, 0, 0, -(frags + 10)), (LEN, 0, 0, 0), (TAIL, 0, 0, 10), (LOAD, n - frags - 20, 20, 0),
                 (TAIL, 0, 0, -(1 << 31)), (TAIL, 0, 0, (1 << 31) - 1), (LEN, 0, 0, 0), (LOAD, 0, 14, 0)]),
        # one fragment at a time: grow the last one to its page, one byte more fails
        _script([(TAIL, 0, 0, (4096 - frags % 4096) % 4096 if frags else LINEAR - n), (LEN, 0, 0, 0),
                 (TAIL, 0, 0, 1), (TAIL, 0, 0, -4096), (LEN, 0, 0, 0), (TAIL, 0, 0, -1), (LEN, 0, 0, 0)]),
    ]


def _packet(n: int) -> bytes:
    rnd = random.Random(n)
    return bytes(rnd.randrange(256) for _ in range(n))


def _cases():
    return [([s], [_packet(n)]) for n in SIZES for s in _scripts(n)] + [([_scripts(73153)[0]], [_packet(73153)])]


@pytest.fixture(scope="module")
def kernel_results(objs):
    require(os.geteuid() == 0, "root (bpf())")
    return {prog: kernel_cases_in(None, objs["xdp_bytes"], prog, _cases())
            for prog in ("xdp_bytes", "xdp_bytes_linear")}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("prog", ["xdp_bytes", "xdp_bytes_linear"])
def test_byte_helpers_same_as_kernel(objs, kernel_results, prog, engine):
    cases = _cases()
    dp = dataplane_cases(objs["xdp_bytes"], prog, cases, engine=engine)
    failures = []
    for i, ((upd, packets), k, d) in enumerate(zip(cases, kernel_results[prog], dp)):
        diffs = D.compare(D.DiffCase("xdp_bytes", prog, packets, tag=str(i)), k, d)
        if diffs:
            failures.append(f"case {i} ({len(packets[0])}B) [{engine}]:\n  " + "\n  ".join(diffs[:6]))
    assert not failures, "\n".join(failures[:10])


def test_cases_reach_the_kernel_paths(kernel_results):
    """Return codes the scripts must provoke: success, -EINVAL (past the
    end, no tail room), -EFAULT (offset > 0xffff), and a refused packet."""
    seen, refused = set(), 0
    for out in kernel_results["xdp_bytes"]:
        for run in out["runs"]:
            refused += "error" in run
        for e in out["maps"]["results"]:
            v = bytes.fromhex(e["value"])
            seen |= set(struct.unpack_from("<8q", v))
    assert {0, -22, -14} <= seen and refused == 1
