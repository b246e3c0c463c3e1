"""Where the kernel checks instruction encodings, and what runs in their place.

The 6.18 kernel checks an instruction's encoding in two places:

* whole program, before any path is explored (resolve_pseudo_ldimm64 and
  check_subprogs): the opcode must be one the interpreter knows
  (``bpf_opcode_in_insntable``), an LDX must be MEM/MEMSX with imm 0, an
  lddw's second slot must be blank and its src_reg a known pseudo kind,
  jump/call targets must be in range;
* only on explored paths (do_check): every other reserved field — src_reg of
  a K-source ALU op, imm of an X-source one, stx imm, call dst/off, shift
  ranges, register numbers, ...

So a path-dead instruction with a nonzero reserved field is accepted by the
kernel.  dataplane decodes such programs without validation
(:func:`decode_program`), the verifier rejects invalid encodings where it
steps on them, and :func:`runnable` swaps the dead invalid ones for a
``ja -1`` (as the kernel's sanitize_dead_code does) so no engine ever has to
decode them.  INSNTABLE was measured against the 6.18 kernel: every opcode
in a dead slot with zero fields, kept when the error was not "unknown opcode".
"""
from __future__ import annotations

import struct

from dataplane.errors import VerifierError
from dataplane.isa import opcodes as op
from dataplane.isa.instruction import Instruction, decode
from dataplane.isa.validate import check as encoding_problem

INSNTABLE = frozenset(int(c, 16) for c in (
    "01 04 05 06 07 09 0c 0f 11 14 15 16 17 18 19 1c 1d 1e 1f 20 21 24 25 26 27 28 29 2c 2d 2e 2f 30 31 "
    "34 35 36 37 39 3c 3d 3e 3f 40 41 44 45 46 47 48 49 4c 4d 4e 4f 50 51 54 55 56 57 59 5c 5d 5e 5f 61 "
    "62 63 64 65 66 67 69 6a 6b 6c 6d 6e 6f 71 72 73 74 75 76 77 79 7a 7b 7c 7d 7e 7f 81 84 85 87 89 91 "
    "94 95 97 9c 9f a1 a4 a5 a6 a7 a9 ac ad ae af b1 b4 b5 b6 b7 b9 bc bd be bf c1 c3 c4 c5 c6 c7 c9 cb "
    "cc cd ce cf d1 d3 d4 d5 d6 d7 d9 db dc dd de e1 e5 e9 f1 f9").split())
_LDDW_SRC_MAX = 6   # BPF_PSEUDO_MAP_IDX_VALUE
_SLOT = struct.Struct("<BBhi")
_TRAP = Instruction(op.OP_JA, off=-1)


def _reject(msg: str):
    raise VerifierError(msg, msg + "\n")


def whole_program_problem(insn) -> str | None:
    """The kernel's error for ``insn`` wherever it is (reachable or not), or None."""
    code = insn.opcode
    if code & 0x07 == op.BPF_LDX and (insn.mode not in (op.BPF_MEM, op.BPF_MEMSX) or insn.imm):
        return "BPF_LDX uses reserved fields"
    if insn.is_lddw and insn.src > _LDDW_SRC_MAX:
        return "unrecognized bpf_ld_imm64 insn"
    if code not in INSNTABLE:
        return f"unknown opcode {code:02x}"
    return None


def decode_program(raw: bytes) -> list:
    """Decode like BPF_PROG_LOAD does: only the whole-program checks here,
    the rest when the verifier reaches an instruction."""
    n = len(raw) // 8
    pc = 0
    while pc < n:
        code = raw[pc * 8]
        if code == op.OP_LDDW:
            if pc + 1 >= n:
                _reject("invalid bpf_ld_imm64 insn")
            code2, regs2, off2, _ = _SLOT.unpack_from(raw, (pc + 1) * 8)
            if code2 or regs2 or off2:
                _reject("invalid bpf_ld_imm64 insn")
            pc += 2
        else:
            pc += 1
    return decode(raw, validate=False)


def dead_invalid_slots(insns, aux) -> list[int]:
    """Slot indexes covered by never-reached instructions whose encoding is
    invalid (what ``runnable`` replaces)."""
    out, pc = [], 0
    for insn in insns:
        a = aux[pc] if pc < len(aux) else None
        if a is not None and not a.seen and encoding_problem(insn):
            out.extend(range(pc, pc + insn.slots))
        pc += insn.slots
    return out


def runnable(insns, aux) -> list:
    """``insns`` with every never-reached instruction whose encoding is invalid
    replaced by ``ja -1`` (one per slot), for the interpreter and the JIT."""
    dead = set(dead_invalid_slots(insns, aux))
    out, pc = [], 0
    for insn in insns:
        out.extend([_TRAP] * insn.slots if pc in dead else [insn])
        pc += insn.slots
    return out
