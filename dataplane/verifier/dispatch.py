"""Per-instruction dispatch, decided once per program: the main loop looks
up what an instruction is by its index instead of re-decoding it at every
visit, and the commonest instructions of loops (64/32-bit ALU on scalars,
register moves, constants) take a short path.

The short path computes exactly what check_alu would (same scalar.alu,
same sanity check of the result); anything it does not handle (pointers,
uninitialised registers, division, register-amount shifts, sign-extending
moves) goes to check_alu, which also raises the errors.
"""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.verifier import scalar
from dataplane.verifier.reg import NOT_INIT, SCALAR, scalar_from

# dispatch kinds
ALU, FAST, LDX, STORE, ATOMIC, LDDW, LDABS, EXIT, CALL, JA, COND, BAD, MOVK, MOVX = range(14)
_FAST_OPS = {op.BPF_ADD: "add", op.BPF_SUB: "sub", op.BPF_MUL: "mul", op.BPF_AND: "and", op.BPF_OR: "or",
             op.BPF_XOR: "xor", op.BPF_LSH: "lsh", op.BPF_RSH: "rsh", op.BPF_ARSH: "arsh"}
_SHIFTS = (op.BPF_LSH, op.BPF_RSH, op.BPF_ARSH)
_UNKNOWN = scalar.UNKNOWN
_valid = scalar.valid


def plan(prog) -> list:
    """(kind, args) per slot (None for the second half of an lddw)."""
    out = []
    for insn in prog:
        if insn is None:
            out.append(None)
            continue
        cls = insn.opcode & 7
        if cls == op.BPF_ALU or cls == op.BPF_ALU64:
            out.append(_alu_plan(insn, cls == op.BPF_ALU64))
        elif cls == op.BPF_LDX:
            out.append((LDX, None))
        elif cls == op.BPF_ST or cls == op.BPF_STX:
            out.append((ATOMIC if insn.mode == op.BPF_ATOMIC else STORE, None))
        elif cls == op.BPF_LD:
            out.append((LDDW if insn.is_lddw else LDABS, None))
        elif insn.is_exit:
            out.append((EXIT, None))
        elif insn.is_call:
            out.append((CALL, None))
        elif insn.is_ja:
            out.append((JA, None))
        elif insn.is_cond_jump:
            out.append((COND, None))
        else:
            out.append((BAD, None))
    return out


def _alu_plan(insn, is64: bool):
    o, dst = insn.op, insn.dst
    if dst == 10:
        return (ALU, None)
    x = insn.source == op.BPF_X
    if o == op.BPF_MOV:
        if not x:
            return (MOVK, scalar.const(insn.imm if is64 else insn.imm & scalar.M32))
        if is64 and insn.off == 0:
            return (MOVX, (dst, insn.src))
        return (ALU, None)
    name = _FAST_OPS.get(o)
    if name is None:
        return (ALU, None)
    if o in _SHIFTS:
        if x or not 0 <= insn.imm < (64 if is64 else 32):
            return (ALU, None)
    kb = None if x else scalar.const(insn.imm)
    return (FAST, (name, dst, insn.src if x else -1, kb, not is64))


class DispatchMixin:
    def _fast_alu(self, st, args) -> bool:
        """check_alu for a scalar <op>= scalar/imm; False to take the slow path."""
        name, dst, src, kb, alu32 = args
        regs = st.frames[-1].regs
        d = regs[dst]
        if d.t != SCALAR:
            return False
        if src >= 0:
            s = regs[src]
            if s.t != SCALAR:
                return False
            kb = (s.vo, s.umin, s.umax, s.smin, s.smax, s.u32min, s.u32max, s.s32min, s.s32max)
        nb = scalar.alu(name, (d.vo, d.umin, d.umax, d.smin, d.smax, d.u32min, d.u32max, d.s32min, d.s32max),
                        kb, alu32)
        regs[dst] = scalar_from(nb if _valid(nb) else _UNKNOWN)
        return True

    def _fast_movx(self, st, args) -> bool:
        dst, src = args
        regs = st.frames[-1].regs
        s = regs[src]
        if s.t == NOT_INIT:
            return False
        if s.t == SCALAR and not s.id and s.vo[1] != 0:
            s = self._with_new_id(st, src, s)   # a later compare refines both
        regs[dst] = s.copy()
        return True
