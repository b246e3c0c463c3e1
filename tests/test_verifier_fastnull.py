"""The NULL check of a map lookup's result on the native main loop
(fastnull.pyx): ``jeq``/``jne`` against 0 with the pointer copied to other
registers and spilled to the stack (every copy learns the branch's fact),
accesses on either side, a second lookup whose id must stay apart, and the
cases left to branch.py (a map-in-map's inner map, a non-zero immediate,
JMP32).  The native loop (log level 0) and the Python
one (log level 1) must reach the same verdict, error and counts, and the
verdict and error line must be the running kernel's."""
from __future__ import annotations

import pytest

from dataplane.abi import maps as mt
from dataplane.io import kbpf
from dataplane.verifier import MapInfo
from support.verifier import Maps, assemble, kernel_verdict
from test_verifier_fastloop import _same

HASH = (1, 4, 16, 8)          # HASH, key 4, value 16: a lookup may fail
LOOKUP = """
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
ldmap %r1, m
call 1
"""
OUT = """
out:
mov %r0, 2
exit
"""

CASES = {
    # the usual shape: if (!v) goto out; read v
    "jeq_then_read": LOOKUP + "jeq %r0, 0, out\nldxw %r1, [%r0+0]" + OUT,
    # jne: the fall-through is the NULL side
    "jne_then_read": LOOKUP + "jne %r0, 0, ok\nja out\nok:\nldxw %r1, [%r0+12]" + OUT,
    # reading on the NULL side is refused
    "read_null_side": LOOKUP + "jne %r0, 0, out\nldxw %r1, [%r0+0]" + OUT,
    # no check at all
    "no_check": LOOKUP + "ldxw %r1, [%r0+0]" + OUT,
    # a copy in another register learns it too, and so does a spilled one
    "copies_learn": LOOKUP + "mov %r6, %r0\nstxdw [%r10-16], %r0\njeq %r0, 0, out\n"
                    "ldxw %r1, [%r6+0]\nldxdw %r7, [%r10-16]\nldxw %r1, [%r7+4]" + OUT,
    # a copy used on the NULL side is a known zero: reading through it fails
    "copy_null_side": LOOKUP + "mov %r6, %r0\njne %r0, 0, out\nldxw %r1, [%r6+0]" + OUT,
    # the NULL side's copy is the scalar 0: a pointer compare on it is decided
    "null_copy_is_zero": LOOKUP + "mov %r6, %r0\njne %r0, 0, out\njeq %r6, 0, out\nldxw %r1, [%r6+0]" + OUT,
    # out of the value's bounds after the check
    "read_past_value": LOOKUP + "jeq %r0, 0, out\nldxw %r1, [%r0+14]" + OUT,
    # two lookups: checking the first says nothing about the second
    "two_lookups": LOOKUP + "mov %r6, %r0\n" + LOOKUP + "jeq %r6, 0, out\nldxw %r1, [%r6+0]\n"
                   "ldxw %r1, [%r0+0]" + OUT,
    "two_lookups_both": LOOKUP + "mov %r6, %r0\n" + LOOKUP + "jeq %r6, 0, out\njeq %r0, 0, out\n"
                        "ldxw %r1, [%r6+0]\nldxw %r1, [%r0+0]" + OUT,
    # left to branch.py: a non-zero immediate, JMP32
    "compare_nonzero": LOOKUP + "jeq %r0, 1, out\nldxw %r1, [%r0+0]" + OUT,
    "jmp32": LOOKUP + "jeq32 %r0, 0, out\nldxw %r1, [%r0+0]" + OUT,
    # against a register known to be 0: the kernel marks nothing (only an
    # immediate 0 is a NULL check), so the read stays refused
    "register_operand": LOOKUP + "mov %r3, 0\njeq %r0, %r3, out\nldxw %r1, [%r0+0]" + OUT,
    "register_operand_jne": LOOKUP + "mov %r3, 0\njne %r0, %r3, ok\nja out\nok:\nldxw %r1, [%r0+0]" + OUT,
    # the check in a loop: the states after it must prune as before
    "in_loop": "mov %r8, 0\nagain:\n" + LOOKUP + "jeq %r0, 0, next\nldxw %r1, [%r0+0]\nnext:\n"
               "add %r8, 1\njlt %r8, 4, again" + OUT,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_null_check(name, root_required):
    maps = Maps({"m": HASH})
    try:
        insns = assemble(CASES[name], maps.fds)
        k_ok, k_err, k_log = kernel_verdict(insns, "xdp")
        fast = _same(insns, maps=maps.infos)
    finally:
        maps.close()
    assert (fast[0] == "accept") is k_ok, (name, fast, k_log)
    if not k_ok:
        assert fast[1] == k_err, (name, fast[1], k_err)


def test_both_verdicts_covered(root_required):
    verdicts = set()
    maps = Maps({"m": HASH})
    try:
        for asm in CASES.values():
            verdicts.add(kernel_verdict(assemble(asm, maps.fds), "xdp")[0])
    finally:
        maps.close()
    assert verdicts == {True, False}


INNER = """
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
ldmap %r1, outer
call 1
jeq %r0, 0, out
stw [%r10-8], 0
mov %r2, %r10
add %r2, -8
mov %r1, %r0
call 1
jeq %r0, 0, out
ldxw %r1, [%r0+0]
""" + OUT


def test_map_in_map_left_to_python(root_required):
    """A map-in-map's lookup becomes the inner map at its NULL check
    (map_value_not_null): the native check leaves it to branch.py, and both
    loops agree with the kernel."""
    inner = kbpf.map_create(2, 4, 16, 1)
    outer = kbpf.map_create(mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1, inner_map_fd=inner)
    try:
        insns = assemble(INNER, {"outer": outer})
        k_ok, k_err, k_log = kernel_verdict(insns, "xdp")
        infos = {outer: MapInfo(mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1, 0, "outer",
                                inner=MapInfo(2, 4, 16, 1, 0, "inner"))}
        fast = _same(insns, maps=infos)
    finally:
        import os
        os.close(outer)
        os.close(inner)
    assert k_ok, k_log
    assert fast[0] == "accept", fast
