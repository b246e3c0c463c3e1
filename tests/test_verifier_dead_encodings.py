"""Invalid encodings in never-reached code, against the 6.18 kernel.

The kernel checks some encoding rules for every instruction (opcode table,
LDX mode/imm, lddw second slot) and the rest of the reserved fields only on
explored paths.  dataplane must give the same verdict both when the bad
instruction is dead (behind an always-taken branch) and when it is live,
and an accepted program must still run (the dead insn is never decoded by
an engine: VerifiedProgram.runnable() swaps it for ``ja -1``).
"""
from __future__ import annotations

import struct

import pytest

from dataplane.errors import VerifierError
from dataplane.io import kbpf
from dataplane.abi.progs import BPF_PROG_TYPE_SOCKET_FILTER
from dataplane.isa import opcodes as op
from dataplane.verifier import decode_program, verify

S = struct.Struct("<BBhi")


def slot(c, d=0, s=0, o=0, i=0):
    return S.pack(c, (s << 4) | d, o, i)


def dead(bad):     # r0 = 0; if r0 == 0 goto past bad; bad; exit
    return slot(0xb7) + slot(0x15, 0, 0, len(bad) // 8, 0) + bad + slot(0x95)


def live(bad):     # r0 = 0; r1 = 0; bad; exit
    return slot(0xb7) + slot(0xb7, 1) + bad + slot(0x95)


CASES = {   # name: (bad insn, dead accepted by the kernel?)
    "alu K src_reg": (slot(0x07, 0, 1, 0, 1), True),
    "alu X imm": (slot(0x0f, 0, 1, 0, 1), True),
    "neg imm": (slot(0x87, 0, 0, 0, 1), True),
    "stx imm": (slot(0x7b, 10, 0, -8, 1), True),
    "st src_reg": (slot(0x7a, 10, 1, -8, 0), True),
    "jeq K src_reg": (slot(0x15, 0, 1, 0, 0), True),
    "call dst_reg": (slot(0x85, 1, 0, 0, 5), True),
    "exit imm": (slot(0x95, 0, 0, 0, 1), True),
    "dst r11": (slot(0xb7, 11), True),
    "ld_abs off": (slot(0x20, 0, 0, 1, 0), True),
    "lddw off": (slot(0x18, 0, 0, 1, 0) + slot(0), True),
    "ldx imm": (slot(0x79, 0, 10, -8, 1), False),
    "ldx mode": (slot(0x41, 0, 10, -8, 0), False),
    "unknown opcode": (slot(0xf4), False),
    "callx": (slot(0x8d), False),
    "memsx dw": (slot(0x99, 0, 10, -8, 0), False),
    "lddw second slot": (slot(0x18) + slot(0, 0, 0, 1, 0), False),
    "lddw src 7": (slot(0x18, 0, 7) + slot(0), False),
}


def _dataplane_ok(raw: bytes, ptype: str = "socket") -> bool:
    try:
        verify(decode_program(raw), prog_type=ptype, log_level=0)
        return True
    except VerifierError:
        return False


def _kernel_ok(raw: bytes) -> bool:
    try:
        kbpf.prog_load(raw, BPF_PROG_TYPE_SOCKET_FILTER, "GPL", log_level=0).close()
        return True
    except kbpf.KernelBpfError:
        return False


@pytest.mark.parametrize("name", list(CASES))
def test_dead_and_live_verdicts(name):
    bad, dead_ok = CASES[name]
    assert _dataplane_ok(dead(bad)) is dead_ok
    assert not _dataplane_ok(live(bad))


@pytest.mark.parametrize("name", list(CASES))
def test_verdicts_match_kernel(root_required, name):
    bad, _ = CASES[name]
    for raw in (dead(bad), live(bad)):
        assert _dataplane_ok(raw) == _kernel_ok(raw), raw.hex()


def test_runnable_traps_dead_invalid_insns():
    from dataplane.isa.instruction import encode
    from dataplane.runtime.interp import Interpreter, Program
    bad = slot(0x07, 0, 1, 0, 1) + slot(0x18, 0, 0, 1, 0) + slot(0)
    raw = slot(0xb7, 0, 0, 0, 7) + slot(0x15, 0, 0, 3, 7) + bad + slot(0x95)
    vp = verify(decode_program(raw), prog_type="socket", log_level=0)
    run = vp.runnable()
    assert [i.opcode for i in run[2:5]] == [op.OP_JA] * 3 and all(i.off == -1 for i in run[2:5])
    assert sum(i.slots for i in run) == len(raw) // 8
    from dataplane.runtime.helpers import Runner, kernel_helpers
    interp = Interpreter(Program(encode(run)), kernel_helpers())
    assert Runner().run_skb(interp, bytes(60))[0] == 7
