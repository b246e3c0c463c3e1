"""Disassembler in the Linux kernel's format (kernel/bpf/disasm.c).

The text matches what the 6.18 verifier log and ``bpftool prog dump xlated``
print for each instruction, e.g. ``0: (b7) r0 = 2`` or
``5: (bd) if r1 <= r3 goto pc+2``, so users can diff our verifier logs with
the kernel's.  Lines are numbered by slot index like the kernel: an lddw takes
two slots, so the instruction after it is numbered +2.

Callbacks mirror the kernel's ``bpf_insn_cbs``: ``helper_name(insn)`` names a
call (helpers default to the kernel table; local calls to ``pc%+d``; kfuncs to
``kernel-function``) and ``map_name(insn)`` renders an lddw constant (default
``0x%x``; with the bpftool-style :func:`bpftool_map_name` it prints
``map[id:N]`` / ``map[id:N][0]+off``).
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from dataplane.abi.helpers import HELPER_NAMES
from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import (BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
                                  BPF_PSEUDO_MAP_VALUE)

_ALU = {op.BPF_ADD: "+=", op.BPF_SUB: "-=", op.BPF_MUL: "*=", op.BPF_DIV: "/=",
        op.BPF_OR: "|=", op.BPF_AND: "&=", op.BPF_LSH: "<<=", op.BPF_RSH: ">>=",
        op.BPF_NEG: "neg", op.BPF_MOD: "%=", op.BPF_XOR: "^=", op.BPF_MOV: "=",
        op.BPF_ARSH: "s>>=", op.BPF_END: "endian"}
_ALU_SIGNED = {op.BPF_DIV: "s/=", op.BPF_MOD: "s%="}
_MOVSX = {8: "(s8)", 16: "(s16)", 32: "(s32)"}
_ATOMIC_ALU = {op.BPF_ADD: "add", op.BPF_AND: "and", op.BPF_OR: "or", op.BPF_XOR: "xor"}
_LDST = {op.BPF_W: "u32", op.BPF_H: "u16", op.BPF_B: "u8", op.BPF_DW: "u64"}
_LDSX = {op.BPF_W: "s32", op.BPF_H: "s16", op.BPF_B: "s8"}
_JMP = {op.BPF_JA: "jmp", op.BPF_JEQ: "==", op.BPF_JGT: ">", op.BPF_JLT: "<",
        op.BPF_JGE: ">=", op.BPF_JLE: "<=", op.BPF_JSET: "&", op.BPF_JNE: "!=",
        op.BPF_JSGT: "s>", op.BPF_JSLT: "s<", op.BPF_JSGE: "s>=", op.BPF_JSLE: "s<=",
        op.BPF_CALL: "call", op.BPF_EXIT: "exit"}
_BPF_ADDR_SPACE_CAST = 1
_BPF_ADDR_PERCPU = -1
_BPF_NOSPEC = 0xC0
_BPF_LOAD_ACQ = 0x100
_BPF_STORE_REL = 0x110

NameFn = Callable[[object], "str | None"]


def _signed(v: int) -> str:
    return f"{v:+d}"


def bpftool_map_name(insn) -> str | None:
    """lddw rendering as bpftool prints xlated code (its print_imm callback)."""
    lo = insn.imm & 0xFFFFFFFF
    if insn.src == BPF_PSEUDO_MAP_FD:
        return f"map[id:{lo}]"
    if insn.src == BPF_PSEUDO_MAP_VALUE:
        return f"map[id:{lo}][0]+{insn.imm >> 32}"
    if insn.src == BPF_PSEUDO_FUNC:
        lo = lo - (1 << 32) if lo & 0x80000000 else lo
        return f"subprog[{lo:+d}]"
    return None


def bpftool_map_namer(map_id: Callable[[int], int]) -> NameFn:
    """A ``map_name`` callback for lddw insns that still carry a map fd (or
    index) in ``imm``: ``map_id(fd)`` gives the id bpftool would print."""
    def name(insn):
        if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE):
            fixed = (insn.imm & ~0xFFFFFFFF) | (map_id(insn.imm & 0xFFFFFFFF) & 0xFFFFFFFF)
            return bpftool_map_name(type(insn)(insn.opcode, insn.dst, insn.src, insn.off, fixed))
        return None
    return name


def _call_name(insn, helper_name: NameFn | None) -> str:
    # Same order as the kernel's __func_get_name: the static helper table
    # first (not for pseudo calls/kfuncs), then the callback, then defaults.
    if insn.src == 0 and insn.imm in HELPER_NAMES:
        return HELPER_NAMES[insn.imm]
    if helper_name is not None:
        name = helper_name(insn)
        if name:
            return name
    if insn.src == BPF_PSEUDO_CALL:
        return f"{insn.imm:+d}"
    if insn.src == BPF_PSEUDO_KFUNC_CALL:
        return "kernel-function"
    return "unknown"


def _alu(insn, code: str) -> str:
    cls, o = insn.cls, insn.op
    w = "w" if cls == op.BPF_ALU else "r"
    if o == op.BPF_END:
        if cls == op.BPF_ALU64:
            return f"{code} r{insn.dst} = bswap{insn.imm} r{insn.dst}"
        order = "be" if insn.source == op.BPF_TO_BE else "le"
        return f"{code} r{insn.dst} = {order}{insn.imm} r{insn.dst}"
    if o == op.BPF_NEG:
        return f"{code} {w}{insn.dst} = -{w}{insn.dst}"
    is_x = insn.source == op.BPF_X
    if insn.opcode == (op.BPF_ALU64 | op.BPF_MOV | op.BPF_X):
        if insn.off == _BPF_ADDR_SPACE_CAST:
            imm = insn.imm & 0xFFFFFFFF
            return f"{code} r{insn.dst} = addr_space_cast(r{insn.src}, {imm >> 16}, {imm & 0xFFFF})"
        if insn.off == _BPF_ADDR_PERCPU:
            return f"{code} r{insn.dst} = &(void __percpu *)(r{insn.src})"
    sym = _ALU_SIGNED[o] if (o in _ALU_SIGNED and insn.off == 1) else _ALU.get(o, "")
    if is_x:
        sx = _MOVSX.get(insn.off, "") if o == op.BPF_MOV else ""
        return f"{code} {w}{insn.dst} {sym} {sx}{w}{insn.src}"
    return f"{code} {w}{insn.dst} {sym} {insn.imm}"


def _stx(insn, code: str) -> str:
    size = _LDST[insn.size]
    mem = f"(r{insn.dst} {_signed(insn.off)})"
    if insn.mode == op.BPF_MEM:
        return f"{code} *({size} *){mem} = r{insn.src}"
    if insn.mode != op.BPF_ATOMIC:
        return f"BUG_{insn.opcode:02x}"
    imm = insn.imm & 0xFFFFFFFF
    bits = "64" if insn.size == op.BPF_DW else ""
    if imm in _ATOMIC_ALU:
        return f"{code} lock *({size} *){mem} {_ALU[imm]} r{insn.src}"
    if imm & op.BPF_FETCH and (imm & ~op.BPF_FETCH) in _ATOMIC_ALU:
        name = _ATOMIC_ALU[imm & ~op.BPF_FETCH]
        return f"{code} r{insn.src} = atomic{bits}_fetch_{name}(({size} *){mem}, r{insn.src})"
    if imm == op.BPF_CMPXCHG:
        return f"{code} r0 = atomic{bits}_cmpxchg(({size} *){mem}, r0, r{insn.src})"
    if imm == op.BPF_XCHG:
        return f"{code} r{insn.src} = atomic{bits}_xchg(({size} *){mem}, r{insn.src})"
    if imm == _BPF_LOAD_ACQ:
        return f"{code} r{insn.dst} = load_acquire(({size} *)(r{insn.src} {_signed(insn.off)}))"
    if imm == _BPF_STORE_REL:
        return f"{code} store_release(({size} *){mem}, r{insn.src})"
    return f"BUG_{insn.opcode:02x}"


def _ld(insn, code: str, map_name: NameFn | None) -> str:
    if insn.mode == op.BPF_ABS:
        return f"{code} r0 = *({_LDST[insn.size]} *)skb[{insn.imm}]"
    if insn.mode == op.BPF_IND:
        return f"{code} r0 = *({_LDST[insn.size]} *)skb[r{insn.src} + {insn.imm}]"
    if insn.opcode == op.OP_LDDW:
        text = map_name(insn) if map_name is not None else None
        return f"{code} r{insn.dst} = {text if text else f'0x{insn.imm:x}'}"
    return f"BUG_ld_{insn.opcode:02x}"


def _jmp(insn, code: str, helper_name: NameFn | None) -> str:
    o, c = insn.op, insn.opcode
    if o == op.BPF_CALL:
        name = _call_name(insn, helper_name)
        if insn.src == BPF_PSEUDO_CALL:
            return f"{code} call pc{name}"
        return f"{code} call {name}#{insn.imm}"
    if c == op.OP_JA:
        return f"{code} goto pc{_signed(insn.off)}"
    if c == (op.BPF_JMP | op.BPF_JA | op.BPF_X):
        return f"{code} gotox r{insn.dst}"
    if c == (op.BPF_JMP | op.BPF_JCOND) and insn.src == 0:
        return f"{code} may_goto pc{_signed(insn.off)}"
    if c == op.OP_GOTOL:
        return f"{code} gotol pc{_signed(insn.imm)}"
    if c == op.OP_EXIT:
        return f"{code} exit"
    w = "w" if insn.cls == op.BPF_JMP32 else "r"
    sym = _JMP.get(o, "")
    if insn.source == op.BPF_X:
        return f"{code} if {w}{insn.dst} {sym} {w}{insn.src} goto pc{_signed(insn.off)}"
    return f"{code} if {w}{insn.dst} {sym} 0x{insn.imm & 0xFFFFFFFF:x} goto pc{_signed(insn.off)}"


def format_insn(insn, *, helper_name: NameFn | None = None, map_name: NameFn | None = None) -> str:
    """One instruction without its index, e.g. ``(b7) r0 = 2``."""
    code = f"({insn.opcode:02x})"
    cls = insn.cls
    if cls in (op.BPF_ALU, op.BPF_ALU64):
        return _alu(insn, code)
    if cls == op.BPF_STX:
        return _stx(insn, code)
    if cls == op.BPF_ST:
        if insn.mode == op.BPF_MEM:
            return f"{code} *({_LDST[insn.size]} *)(r{insn.dst} {_signed(insn.off)}) = {insn.imm}"
        if insn.mode == _BPF_NOSPEC:
            return f"{code} nospec"
        return f"BUG_st_{insn.opcode:02x}"
    if cls == op.BPF_LDX:
        if insn.mode == op.BPF_MEM:
            size = _LDST[insn.size]
        elif insn.mode == op.BPF_MEMSX and insn.size in _LDSX:
            size = _LDSX[insn.size]
        else:
            return f"BUG_ldx_{insn.opcode:02x}"
        return f"{code} r{insn.dst} = *({size} *)(r{insn.src} {_signed(insn.off)})"
    if cls == op.BPF_LD:
        return _ld(insn, code, map_name)
    return _jmp(insn, code, helper_name)


def disassemble(insns_or_bytes: "bytes | Sequence", *, helper_name: NameFn | None = None,
                map_name: NameFn | None = None) -> list[str]:
    """Kernel-format lines ``N: (op) text`` numbered by slot index."""
    if isinstance(insns_or_bytes, (bytes, bytearray, memoryview)):
        from dataplane.isa.instruction import decode
        insns: Iterable = decode(bytes(insns_or_bytes))
    else:
        insns = insns_or_bytes
    lines, pc = [], 0
    for insn in insns:
        lines.append(f"{pc}: {format_insn(insn, helper_name=helper_name, map_name=map_name)}")
        pc += insn.slots
    return lines
