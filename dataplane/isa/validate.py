"""Encoding rules of RFC 9669: which (opcode, regs, off, imm) words exist.

:func:`check` returns ``None`` for a valid instruction or a short reason.  It
looks at one instruction only; jump ranges, register liveness and the rest are
the verifier's business.  Where the kernel accepts an encoding outside RFC 9669
that real compilers emit (``callx``, ``may_goto``) it is accepted and marked.
Out-of-range shift immediates are valid encodings (RFC 9669 leaves the result
to the shift-count masking rule; only the Linux verifier rejects them).
"""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL, LDDW_PSEUDO_MAX

_MAX_REG = op.MAX_BPF_REG - 1  # r10


def _regs(insn, *, dst_used: bool, src_used: bool) -> str | None:
    if dst_used:
        if insn.dst > _MAX_REG:
            return f"invalid dst register r{insn.dst}"
    elif insn.dst:
        return f"reserved dst_reg field must be 0 (is {insn.dst})"
    if src_used:
        if insn.src > _MAX_REG:
            return f"invalid src register r{insn.src}"
    elif insn.src:
        return f"reserved src_reg field must be 0 (is {insn.src})"
    return None


def _alu(insn) -> str | None:
    alu64 = insn.cls == op.BPF_ALU64
    o = insn.op
    if o not in op.ALU_OPS:
        return f"unknown ALU operation 0x{o:02x}"
    if o == op.BPF_END:
        if alu64 and insn.source == op.BPF_TO_BE:
            return "bswap (ALU64 END) must use source 0"
        if insn.imm not in (16, 32, 64):
            return f"byte swap width must be 16, 32 or 64 (is {insn.imm})"
        if insn.off:
            return "reserved offset field must be 0 for byte swap"
        return _regs(insn, dst_used=True, src_used=False)
    if o == op.BPF_NEG:
        if insn.source != op.BPF_K:
            return "neg must use source K"
        if insn.off or insn.imm:
            return "reserved offset/imm fields must be 0 for neg"
        return _regs(insn, dst_used=True, src_used=False)
    if o in (op.BPF_DIV, op.BPF_MOD):
        if insn.off not in (0, 1):
            return f"{'sdiv' if o == op.BPF_DIV else 'smod'} offset must be 0 or 1 (is {insn.off})"
    elif o == op.BPF_MOV and insn.source == op.BPF_X:
        allowed = (0, 8, 16, 32) if alu64 else (0, 8, 16)
        if insn.off not in allowed:
            return f"movsx offset must be one of {allowed} (is {insn.off})"
    elif insn.off:
        return f"reserved offset field must be 0 (is {insn.off})"
    if insn.source == op.BPF_X:
        if insn.imm:
            return f"reserved imm field must be 0 for register source (is {insn.imm})"
        return _regs(insn, dst_used=True, src_used=True)
    if o == op.BPF_MOV and insn.off:
        return "movsx requires a register source"
    return _regs(insn, dst_used=True, src_used=False)


def _jmp(insn) -> str | None:
    jmp32 = insn.cls == op.BPF_JMP32
    o, code = insn.op, insn.opcode
    if o == op.BPF_JA:
        if insn.source != op.BPF_K:
            return "ja must use source K"
        if jmp32:  # gotol: 32-bit offset in imm
            if insn.off:
                return "gotol: reserved offset field must be 0"
        elif insn.imm:
            return "ja: reserved imm field must be 0"
        return _regs(insn, dst_used=False, src_used=False)
    if o == op.BPF_CALL:
        if jmp32:
            return "call is not valid in the JMP32 class"
        if insn.off:
            return "call: reserved offset field must be 0"
        if insn.source == op.BPF_X:  # callx (kernel/LLVM extension): target in dst
            if insn.imm:
                return "callx: reserved imm field must be 0"
            return _regs(insn, dst_used=True, src_used=False)
        if insn.src not in (0, BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL):
            return f"call src_reg must be 0, 1 or 2 (is {insn.src})"
        if insn.dst:
            return "call: reserved dst_reg field must be 0"
        return None
    if o == op.BPF_EXIT:
        if jmp32 or insn.source != op.BPF_K:
            return "exit is only valid as opcode 0x95"
        if insn.off or insn.imm:
            return "exit: reserved offset/imm fields must be 0"
        return _regs(insn, dst_used=False, src_used=False)
    if o == op.BPF_JCOND:
        # may_goto (kernel extension): JMP class, src_reg 0 (BPF_MAY_GOTO)
        if jmp32 or insn.source != op.BPF_K or insn.imm or insn.dst or insn.src:
            return "invalid may_goto encoding"
        return None
    if o not in op.JMP_COND_OPS:
        return f"unknown jump operation 0x{o:02x}"
    if insn.source == op.BPF_X:
        if insn.imm:
            return f"reserved imm field must be 0 for register source (is {insn.imm})"
        return _regs(insn, dst_used=True, src_used=True)
    return _regs(insn, dst_used=True, src_used=False)


def _ld(insn) -> str | None:
    mode, size = insn.mode, insn.size
    if insn.opcode == op.OP_LDDW:
        if insn.src > LDDW_PSEUDO_MAX:
            return f"lddw src_reg must be 0..{LDDW_PSEUDO_MAX} (is {insn.src})"
        if insn.off:
            return "lddw: reserved offset field must be 0"
        return _regs(insn, dst_used=True, src_used=True)
    if mode in (op.BPF_ABS, op.BPF_IND):
        if size == op.BPF_DW:
            return "legacy packet load has no DW size"
        if insn.off:
            return "legacy packet load: reserved offset field must be 0"
        return _regs(insn, dst_used=False, src_used=(mode == op.BPF_IND))
    return f"unknown LD opcode 0x{insn.opcode:02x}"


def _ldx(insn) -> str | None:
    if insn.mode == op.BPF_MEMSX:
        if insn.size == op.BPF_DW:
            return "sign-extending load has no DW size"
    elif insn.mode != op.BPF_MEM:
        return f"unknown LDX mode 0x{insn.mode:02x}"
    if insn.imm:
        return f"ldx: reserved imm field must be 0 (is {insn.imm})"
    return _regs(insn, dst_used=True, src_used=True)


def _st(insn) -> str | None:
    if insn.mode != op.BPF_MEM:
        return f"unknown ST mode 0x{insn.mode:02x}"
    return _regs(insn, dst_used=True, src_used=False)


def _stx(insn) -> str | None:
    if insn.mode == op.BPF_MEM:
        if insn.imm:
            return f"stx: reserved imm field must be 0 (is {insn.imm})"
    elif insn.mode == op.BPF_ATOMIC:
        if insn.size not in (op.BPF_W, op.BPF_DW):
            return "atomic operations must be W or DW sized"
        if insn.imm not in op.ATOMIC_IMMS:
            return f"unknown atomic operation imm=0x{insn.imm & 0xffffffff:x}"
    else:
        return f"unknown STX mode 0x{insn.mode:02x}"
    return _regs(insn, dst_used=True, src_used=True)


_BY_CLASS = {
    op.BPF_ALU: _alu, op.BPF_ALU64: _alu, op.BPF_JMP: _jmp, op.BPF_JMP32: _jmp,
    op.BPF_LD: _ld, op.BPF_LDX: _ldx, op.BPF_ST: _st, op.BPF_STX: _stx,
}


def check(insn) -> str | None:
    """Why ``insn`` is not a valid encoding, or None if it is."""
    return _BY_CLASS[insn.cls](insn)
