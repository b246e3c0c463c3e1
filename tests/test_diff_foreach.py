"""bpf_for_each_map_elem against the running kernel: tests/progs/xdp_foreach.c
fills an ARRAY, a PERCPU_ARRAY, a HASH, a PERCPU_HASH and an LRU_HASH from
each packet and walks them with callbacks that sum, count, take maxima,
record the ARRAY's index order, stop early (return 1) at a packet-chosen
index, write values and delete elements mid-walk; NULL contexts and
flags != 0 (-EINVAL) too.  A hash map's bucket order is each side's own,
so what the hash callbacks record does not depend on it.  Verdicts, output
bytes and maps (the per-iteration results in fe_out and every walked map)
must match on both engines.  The must-reject cases (the kernel's error line,
word for word) are tests/verifier_reject/foreach_*.c.
"""
from __future__ import annotations

import random

import pytest

from support import diff as D
from support.verifier import processed_like_kernel


def _packets() -> list[bytes]:
    rnd = random.Random(23)
    pk = [p for p in D.packet_corpus(seed=3, count=30) if len(p) >= D.MIN_FRAME]
    pk += [bytes(rnd.randrange(256) for _ in range(rnd.choice((14, 20, 64)))) for _ in range(30)]
    return pk


PACKETS = _packets()
PROGS = ("xdp_fe_array", "xdp_fe_hash", "xdp_fe_delete", "xdp_fe_misc")
CASES = [D.DiffCase("xdp_foreach", p, PACKETS) for p in PROGS]
_kernel_run = D.KernelRuns(all_programs=False)


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_as_kernel(case, engine, objs, root_required, tmp_path):
    D.assert_same_as_kernel(case, engine, objs, tmp_path, _kernel_run(case, objs))


def _out(run) -> list[int]:
    return [int.from_bytes(bytes.fromhex(e["value"]), "little", signed=True) for e in run["maps"]["fe_out"]]


def test_walks_did_something(objs, root_required):
    """The kernel's own results show every path was taken (the comparison
    above holds dataplane to them)."""
    a = _out(_kernel_run(CASES[0], objs))
    assert a[0] > 0 and a[2] > 0 and 0 < a[0] < 16 * len(PACKETS)     # early stops cut some walks
    h = _out(_kernel_run(CASES[1], objs))
    assert h[7] > 0 and h[11] > 0 and h[13] > 0
    d = _out(_kernel_run(CASES[2], objs))
    assert d[17] > 0 and d[16] == d[18]                                 # deleted while walking
    m = _out(_kernel_run(CASES[3], objs))
    assert m[21] == 16 * len(PACKETS) and m[22] == -22 * len(PACKETS)   # every slot; flags: -EINVAL


def test_verification_effort_is_the_kernels(objs, root_required):
    """The callback loops converge where the kernel's do: processed
    instructions within 5% of the kernel's (widening and the convergence
    check are what keep these loops from running into the 1M limit)."""
    assert processed_like_kernel(objs["xdp_foreach"], PROGS, 0.05) == []
