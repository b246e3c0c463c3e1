"""The BPF instruction as an immutable value, and its byte encoding.

Wire format (RFC 9669, little-endian host order as Linux uses on x86):

    byte 0      opcode
    byte 1      dst_reg (low nibble) | src_reg (high nibble)
    bytes 2-3   offset, signed 16-bit
    bytes 4-7   imm, signed 32-bit

``lddw`` (opcode 0x18) is the only wide instruction: a second 8-byte slot whose
fields must all be zero except ``imm``, which holds the upper 32 bits.  Here it
is ONE :class:`Instruction` with a 64-bit ``imm`` and ``slots == 2``, so code
walking a program never sees the pseudo-instruction half; jump offsets and
kernel-style numbering still count slots (see :func:`slot_indices`).

:func:`decode` checks every encoding rule of RFC 9669 (plus the kernel's legacy
LD_ABS/LD_IND and the few kernel extensions noted below) and names the slot of
the first invalid word.  Semantic checks (jump targets, register state) belong
to the verifier, not here.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Sequence

from dataplane.errors import InvalidInstruction
from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL
from dataplane.isa.validate import check

_SLOT = struct.Struct("<BBhi")


def _s16(v: int) -> int:
    v &= 0xFFFF
    return v - 0x10000 if v & 0x8000 else v


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


@dataclass(frozen=True, slots=True)
class Instruction:
    """One BPF instruction.  ``off`` is signed 16-bit, ``imm`` signed 32-bit,
    except for lddw where ``imm`` is the unsigned 64-bit constant."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def __post_init__(self):
        # Normalise so that equal encodings compare equal however they were
        # written (0xffff and -1 are the same offset).
        if not 0 <= self.opcode <= 0xFF:
            raise ValueError(f"opcode out of range: {self.opcode}")
        if not (0 <= self.dst <= 15 and 0 <= self.src <= 15):
            raise ValueError(f"register field out of range: dst={self.dst} src={self.src}")
        if not -0x8000 <= self.off <= 0xFFFF:
            raise ValueError(f"offset out of range: {self.off}")
        object.__setattr__(self, "off", _s16(self.off))
        if self.opcode == op.OP_LDDW:
            if not -(1 << 63) <= self.imm < (1 << 64):
                raise ValueError(f"64-bit immediate out of range: {self.imm}")
            object.__setattr__(self, "imm", self.imm & 0xFFFFFFFFFFFFFFFF)
        else:
            if not -(1 << 31) <= self.imm < (1 << 32):
                raise ValueError(f"immediate out of range: {self.imm}")
            object.__setattr__(self, "imm", _s32(self.imm))

    # --- opcode fields -----------------------------------------------------
    @property
    def cls(self) -> int:
        return self.opcode & 0x07

    @property
    def op(self) -> int:
        """ALU/JMP operation (BPF_ADD, BPF_JEQ, ...)."""
        return self.opcode & 0xF0

    @property
    def source(self) -> int:
        """BPF_K or BPF_X (BPF_TO_LE/BPF_TO_BE for END)."""
        return self.opcode & 0x08

    @property
    def size(self) -> int:
        return self.opcode & 0x18

    @property
    def mode(self) -> int:
        return self.opcode & 0xE0

    @property
    def slots(self) -> int:
        return 2 if self.opcode == op.OP_LDDW else 1

    # --- classification ----------------------------------------------------
    @property
    def is_lddw(self) -> bool:
        return self.opcode == op.OP_LDDW

    @property
    def is_alu(self) -> bool:
        return self.cls in (op.BPF_ALU, op.BPF_ALU64)

    @property
    def is_jmp_class(self) -> bool:
        return self.cls in (op.BPF_JMP, op.BPF_JMP32)

    @property
    def is_call(self) -> bool:
        return self.opcode in (op.OP_CALL, op.OP_CALLX)

    @property
    def is_helper_call(self) -> bool:
        return self.opcode == op.OP_CALL and self.src == 0

    @property
    def is_local_call(self) -> bool:
        return self.opcode == op.OP_CALL and self.src == BPF_PSEUDO_CALL

    @property
    def is_kfunc_call(self) -> bool:
        return self.opcode == op.OP_CALL and self.src == BPF_PSEUDO_KFUNC_CALL

    @property
    def is_exit(self) -> bool:
        return self.opcode == op.OP_EXIT

    @property
    def is_ja(self) -> bool:
        """Unconditional jump: ``ja`` (off) or ``gotol`` (imm)."""
        return self.opcode in (op.OP_JA, op.OP_GOTOL)

    @property
    def is_cond_jump(self) -> bool:
        return self.is_jmp_class and self.op in op.JMP_COND_OPS

    @property
    def is_jump(self) -> bool:
        """Any instruction whose successor is given by an offset."""
        return self.is_ja or self.is_cond_jump or self.opcode == (op.BPF_JMP | op.BPF_JCOND)

    @property
    def is_ld_abs_ind(self) -> bool:
        return self.cls == op.BPF_LD and self.mode in (op.BPF_ABS, op.BPF_IND)

    @property
    def is_atomic(self) -> bool:
        return self.cls == op.BPF_STX and self.mode == op.BPF_ATOMIC

    @property
    def is_movsx(self) -> bool:
        return self.is_alu and self.op == op.BPF_MOV and self.source == op.BPF_X and self.off in (8, 16, 32)

    @property
    def is_sdiv_smod(self) -> bool:
        return self.is_alu and self.op in (op.BPF_DIV, op.BPF_MOD) and self.off == 1

    def jump_offset(self) -> int:
        """Relative slot offset of a jump (``imm`` for gotol, ``off`` otherwise)."""
        return self.imm if self.opcode == op.OP_GOTOL else self.off

    def jump_target(self, pc: int) -> int:
        """Slot index a taken jump (or local call, via imm) at slot ``pc`` lands on."""
        if self.is_local_call:
            return pc + 1 + self.imm
        return pc + 1 + self.jump_offset()

    # --- encoding ----------------------------------------------------------
    def encode(self) -> bytes:
        regs = (self.src << 4) | self.dst
        if self.opcode == op.OP_LDDW:
            lo, hi = self.imm & 0xFFFFFFFF, self.imm >> 32
            return _SLOT.pack(self.opcode, regs, self.off, _s32(lo)) + _SLOT.pack(0, 0, 0, _s32(hi))
        return _SLOT.pack(self.opcode, regs, self.off, self.imm)

    def kernel_str(self, **kw) -> str:
        """The instruction as the kernel's print_bpf_insn shows it (no index)."""
        from dataplane.isa.disasm import format_insn
        return format_insn(self, **kw)

    def __str__(self) -> str:
        return self.kernel_str()


def encode(insns: Iterable[Instruction]) -> bytes:
    """Concatenate the wire encoding of ``insns``."""
    return b"".join(i.encode() for i in insns)


def slot_indices(insns: Sequence[Instruction]) -> list[int]:
    """Slot index (kernel instruction number) of each instruction."""
    out, pc = [], 0
    for i in insns:
        out.append(pc)
        pc += i.slots
    return out


def decode(data: bytes, *, validate: bool = True) -> list[Instruction]:
    """Decode instruction bytes; raise InvalidInstruction(slot, reason) on any
    encoding RFC 9669 (or the kernel, for legacy/extension opcodes) forbids."""
    if len(data) % 8:
        raise InvalidInstruction(len(data) // 8, f"program length {len(data)} is not a multiple of 8")
    n = len(data) // 8
    out: list[Instruction] = []
    pc = 0
    while pc < n:
        code, regs, off, imm = _SLOT.unpack_from(data, pc * 8)
        dst, src = regs & 0x0F, regs >> 4
        if code == op.OP_LDDW:
            if pc + 1 >= n:
                raise InvalidInstruction(pc, "lddw is truncated (missing second slot)")
            code2, regs2, off2, imm2 = _SLOT.unpack_from(data, (pc + 1) * 8)
            if validate and (code2 or regs2 or off2):
                raise InvalidInstruction(pc + 1, "lddw second slot must have zero opcode, registers and offset")
            insn = Instruction(code, dst, src, off, (imm & 0xFFFFFFFF) | ((imm2 & 0xFFFFFFFF) << 32))
        else:
            insn = Instruction(code, dst, src, off, imm)
        if validate:
            reason = check(insn)
            if reason:
                raise InvalidInstruction(pc, reason)
        out.append(insn)
        pc += insn.slots
    return out

