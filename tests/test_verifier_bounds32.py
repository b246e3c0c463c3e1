"""Separate 32-bit bounds (u32/s32 beside u64/s64, synchronised as the
kernel's reg_bounds_sync): ALU32 results, JMP32 refinements and the dead
branches where ranges and tnum disagree.  Each program's verdict comes from
the running kernel; dataplane must agree and print the kernel's error line.
"""
from __future__ import annotations

import pytest

from dataplane.verifier import scalar
from support.verifier import Maps, assemble, dataplane_verdict, kernel_verdict

ARRAY = (2, 4, 16, 1)
# r9 = map value (array, 1 entry, constant key: never NULL), r7/r8 = packet
HEAD = """
ldxw %r7, [%r1+0]
ldxw %r8, [%r1+4]
stw [%r10-4], 0
mov %r2, %r10
add %r2, -4
ldmap %r1, m
call 1
mov %r9, %r0
mov %r2, %r7
add %r2, 8
jgt %r2, %r8, out
"""
TAIL = """
out:
mov %r0, 2
exit"""


def prog(body: str) -> str:
    return HEAD + body.strip("\n") + TAIL


def indexed(width: str, steps: str, use: str) -> str:
    """r3 = a packet field of `width` (b/w/dw); `steps` (";"-separated) bound
    it; r9 += r3 indexes the 16-byte map value; `use` reads or writes there.
    Whether that access is in bounds is what the kernel decides."""
    return prog(f"ldx{width} %r3, [%r7+0]\n" + steps.replace("; ", "\n") + f"\nadd %r9, %r3\n{use}")


CORPUS32 = {
    # JMP32 bounds the low half; mov32 zero-extends it into a bounded index
    "jmp32_then_mov32": indexed("dw", "jgt32 %r3, 12, out; mov32 %r3, %r3", "ldxw %r0, [%r9+0]"),
    # without the zero extension the upper half stays unknown
    "jmp32_upper_unknown": indexed("dw", "jgt32 %r3, 12, out", "ldxw %r0, [%r9+0]"),
    # a u32 load has a zero upper half: JMP32 bounds carry into 64 bits
    "jmp32_on_u32_load": indexed("w", "jgt32 %r3, 12, out", "ldxw %r0, [%r9+0]"),
    # signed 32-bit window [0, 7] on a 32-bit value
    "jsgt32_window": indexed("w", "jsgt32 %r3, 7, out; jslt32 %r3, 0, out", "ldxdw %r0, [%r9+0]"),
    # one too wide for an 8-byte read at [0, 9] of a 16-byte value
    "jsgt32_window_too_wide": indexed("w", "jsgt32 %r3, 9, out; jslt32 %r3, 0, out", "ldxdw %r0, [%r9+0]"),
    # ALU32 add that may wrap: the 32-bit range is lost
    "alu32_add_wraps": indexed("b", "add32 %r3, -1; and %r3, 0xff; add32 %r3, 0x7fffffff", "ldxb %r0, [%r9+0]"),
    # ALU32 add that never wraps keeps an exact range, zero-extended
    "alu32_add_exact": indexed("b", "and32 %r3, 7; add32 %r3, 3", "ldxw %r0, [%r9+0]"),
    # w3 -= 1 on [0, 7] underflows for 0: u32 unbounded, 64-bit too
    "alu32_sub_underflow": indexed("b", "and32 %r3, 7; sub32 %r3, 1", "ldxb %r0, [%r9+0]"),
    # the kernel's s32 -> s64 carry when the 64-bit value fits in s32
    "jmp32_s32_into_s64": indexed("w", "jsge32 %r3, 0, pos; ja out; pos:; jgt32 %r3, 15, out", "ldxb %r0, [%r9+0]"),
    # lsh 32 then arsh 32: the compiler's sign extension of a subregister
    "lsh32_arsh32_sext": indexed("b", "and %r3, 7; lsh %r3, 32; arsh %r3, 32", "ldxdw %r0, [%r9+0]"),
    # dead branch: range [1, 3] but the tnum allows only multiples of 4:
    # the kernel collapses it to the single shared value (tnum_step)
    "dead_branch_tnum_range": indexed("w", "lsh %r3, 2; jsle %r3, 0, out; jgt %r3, 3, out", "stw [%r9+0], 7"),
    # JNE whose constant disagrees with the known bits is always taken
    "jne_tnum_disjoint": indexed("dw", "xor32 %r3, 16; lsh %r3, 4; jne %r3, 8, out", "ldxdw %r0, [%r9+15]"),
}


@pytest.mark.parametrize("name", sorted(CORPUS32))
def test_agrees_with_kernel(name, root_required):
    maps = Maps({"m": ARRAY})
    try:
        insns = assemble(CORPUS32[name], maps.fds)
        k_ok, k_err, k_log = kernel_verdict(insns, "xdp")
        d_ok, d_err, d_res = dataplane_verdict(insns, "xdp", maps.infos)
    finally:
        maps.close()
    detail = f"\nkernel log:\n{k_log}\ndataplane: {d_err}\n{getattr(d_res, 'log', '')}"
    assert d_ok == k_ok, f"{name}: kernel {'accepts' if k_ok else 'rejects'}" + detail
    if not k_ok:
        assert d_err == k_err, f"{name}: summary {d_err!r} != kernel {k_err!r}" + detail


def test_corpus_has_both_verdicts(root_required):
    verdicts = set()
    maps = Maps({"m": ARRAY})
    try:
        for asm in CORPUS32.values():
            verdicts.add(kernel_verdict(assemble(asm, maps.fds), "xdp")[0])
    finally:
        maps.close()
    assert verdicts == {True, False}


def test_sync_matches_kernel_examples():
    """Hand-checked reg_bounds_sync results (values from the kernel's log)."""
    # r3 = -(u32 load), then `if r3 > 16` false: the kernel's s32 overwrite
    # in __reg_deduce_mixed_bounds gives smax=16, not the intersection 0.
    neg = scalar.neg(scalar.from64((0, scalar.M32), 0, scalar.M32, 0, scalar.M32))
    assert (neg[3], neg[4]) == (-(1 << 32) + 1, 0)
    b = list(neg)
    b[2] = 16
    r = scalar.sync(tuple(b))
    assert (r[1], r[2], r[3], r[4]) == (0, 16, 0, 16) and r[0] == (0, 0x1F)
    # tnum (0; 0xf0) with range [1, 0x10]: the only shared value is 0x10
    r = scalar.sync(((0, 0xF0), 1, 0x10, 1, 0x10, 0, scalar.M32, scalar.S32_MIN, scalar.S32_MAX))
    assert r == scalar.const(0x10)
    # ALU32 results are zero-extended: w = 0xffffffff + 1 wraps to 0
    c = scalar.alu("add", scalar.const(0xFFFFFFFF), scalar.const(1), True)
    assert c == scalar.const(0)
