"""Open-coded numeric iterators (bpf_iter_num_new / _next / _destroy, the
loops libbpf's bpf_for() / bpf_repeat() compile to) against the running
kernel: tests/progs/xdp_iter.c sums and rewrites packet bytes by index,
nests a repeat loop around a for loop that updates a hash map, and drives
the kfuncs through their edge cases (-EINVAL, -E2BIG, empty ranges, next()
after the end, INT_MIN / INT_MAX bounds, a range taken from the packet).
Verdicts, output bytes and maps must match on both engines.  The
must-reject cases (the kernel's error line, word for word) are
tests/verifier_reject/iter_*.c.
"""
from __future__ import annotations

import random

import pytest

from support import diff as D
from support.verifier import processed_like_kernel


def _packets() -> list[bytes]:
    rnd = random.Random(11)
    pk = D.packet_corpus(seed=5, count=40)
    pk += [bytes(rnd.randrange(256) for _ in range(n)) for n in (14, 15, 21, 63, 64, 65, 213, 214, 215, 600)]
    return [p for p in pk if len(p) >= D.MIN_FRAME]


PACKETS = _packets()
PROGS = ("xdp_iter_sum", "xdp_iter_rewrite", "xdp_iter_nested", "xdp_iter_edge")
CASES = [D.DiffCase("xdp_iter", p, PACKETS) for p in PROGS]
_kernel_run = D.KernelRuns(all_programs=False)


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    D.assert_same_as_kernel(case, engine, objs, tmp_path, _kernel_run(case, objs))


def _out(run) -> list[int]:
    return [int.from_bytes(bytes.fromhex(e["value"]), "little", signed=True) for e in run["maps"]["iter_out"]]


def test_edge_cases_are_the_kernels(objs, root_required):
    """The edge program's counts say what the kernel's kfuncs did (the
    comparison above holds dataplane to the same)."""
    n = len(PACKETS)
    o = _out(_kernel_run(CASES[3], objs))
    assert o[4] == -22 * n and o[5] == 0            # start > end: -EINVAL, nothing iterated
    assert o[7] == -7 * n and o[8] == 0             # over BPF_MAX_LOOPS: -E2BIG
    assert o[10] == 0 and o[11] == 0                # empty range
    assert o[14] == 4 * n and o[15] == (-2 ** 31) * n   # from INT_MIN: 4 values, the first INT_MIN
    assert o[17] == 2 * n and o[18] == (2 ** 31 - 3) * n
    assert o[22] == 0 and o[23] == 70 * n and o[24] == -3 * n   # exactly BPF_MAX_LOOPS values: allowed
    s = _out(_kernel_run(CASES[0], objs))
    assert s[1] == sum(min(len(p), 64) for p in PACKETS)


def test_verification_effort_is_the_kernels(objs, root_required):
    """The iterator loops converge where the kernel's do: processed
    instructions within 5% of the kernel's (widening and the convergence
    check are what keep these loops from running into the 1M limit)."""
    assert processed_like_kernel(objs["xdp_iter"], PROGS, 0.05) == []
