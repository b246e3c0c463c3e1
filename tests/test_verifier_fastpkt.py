"""``if pkt <op> pkt_end`` on the native main loop (fastpkt.pyx): every
operator, both operand orders, accesses on both sides and a second compare
that the at/beyond pkt_end marks decide, plus a packet pointer walking a
loop.  The native loop (log level 0) and the Python one (log level 1) must
reach the same verdict, error and counts, and the verdict must be the
running kernel's."""
from __future__ import annotations

import itertools

import pytest

from dataplane.io import kbpf
from dataplane.isa.instruction import encode
from support.verifier import assemble
from test_verifier_fastloop import _same

OPS = ["jgt", "jge", "jlt", "jle", "jeq", "jne", "jsgt", "jset"]


def _prog(o: str, rev: bool, step: int, k1: int, k2: int, o2: str) -> str:
    a, b = ("%r3", "%r4") if rev else ("%r4", "%r3")
    return f"""
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, 0
mov %r4, %r2
add %r4, {step}
{o} {a}, {b}, taken
ldxb %r5, [%r2+{k1}]
exit
taken:
{o2} {a}, {b}, again
ldxb %r5, [%r2+{k2}]
exit
again:
ldxb %r5, [%r2+{k1}]
exit
"""


CASES = [(o, rev, step, k1, k2, o2) for o, rev in itertools.product(OPS, (False, True))
         for step, k1, k2, o2 in ((14, 13, 0, "jgt"), (14, 14, 13, "jge"), (0, 0, 0, "jlt"), (8, 7, 7, "jle"))]


def _kernel_ok(insns) -> bool:
    try:
        kbpf.prog_load(encode(insns), 6, "GPL", log_level=0).close()
        return True
    except kbpf.KernelBpfError:
        return False


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_pkt_compare(case, root_required):
    insns = assemble(_prog(*case), {})
    verdict = _same(insns)[0]
    assert (verdict == "accept") is _kernel_ok(insns)


WALK = """
ldxw %r2, [%r1+0]
ldxw %r3, [%r1+4]
mov %r0, 0
mov %r4, %r2
loop:
add %r4, 14
jgt %r4, %r3, loop
ldxb %r5, [%r2+13]
exit
"""


def test_pointer_walking_a_loop(root_required):
    """The ringbuf mutant's shape (benchmarks/verify.py): the pointer moves
    past 64 KiB, where no range is learnt any more and the access fails."""
    insns = assemble(WALK, {})
    out = _same(insns)
    assert out[0] == "reject" and "outside of the packet" in out[1]
    assert not _kernel_ok(insns)
