"""A tiny raw-instruction encoder for the interpreter tests (plus its own checks).

Independent of dataplane.isa on purpose: the interpreter tests pin semantics
to RFC 9669 encodings written out by hand, not to the assembler's output.
The other test_interp_* files import it.
"""
from __future__ import annotations

import struct

# classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = range(8)
K, X = 0x00, 0x08
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
MEM, MEMSX, ATOMIC, ABS, IND = 0x60, 0x80, 0xC0, 0x20, 0x40
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT_OP, JLT, JLE, JSLT, JSLE = (
    0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0)
FETCH = 0x01
XCHG = 0xE0 | FETCH
CMPXCHG = 0xF0 | FETCH


def ins(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhI", code, dst | (src << 4), off, imm & 0xFFFFFFFF)


def lddw(dst: int, value: int, src: int = 0) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF
    return ins(LD | DW, dst, src, 0, value & 0xFFFFFFFF) + ins(0, 0, 0, 0, value >> 32)


def alu64(op, dst, imm=0, src=None, off=0):
    """ALU64 op: register form when src is given, else immediate form."""
    return ins(ALU64 | op | (X if src is not None else K), dst, src or 0, off, imm)


def alu32(op, dst, imm=0, src=None, off=0):
    return ins(ALU | op | (X if src is not None else K), dst, src or 0, off, imm)


def mov(dst, imm):
    return alu64(MOV, dst, imm)


def jmp(op, dst, off, imm=0, src=None):
    return ins(JMP | op | (X if src is not None else K), dst, src or 0, off, imm)


def jmp32(op, dst, off, imm=0, src=None):
    return ins(JMP32 | op | (X if src is not None else K), dst, src or 0, off, imm)


def ldx(size, dst, src, off=0):
    return ins(LDX | MEM | size, dst, src, off)


def ldxsx(size, dst, src, off=0):
    return ins(LDX | MEMSX | size, dst, src, off)


def st(size, dst, off, imm):
    return ins(ST | MEM | size, dst, 0, off, imm)


def stx(size, dst, src, off=0):
    return ins(STX | MEM | size, dst, src, off)


def atomic(size, op, dst, src, off=0):
    return ins(STX | ATOMIC | size, dst, src, off, op)


def call(helper_id):
    return ins(JMP | CALL, 0, 0, 0, helper_id)


def call_local(rel):
    return ins(JMP | CALL, 0, 1, 0, rel)


def call_kfunc(index):
    return ins(JMP | CALL, 0, 2, 0, index)


EXIT = ins(JMP | EXIT_OP)


def prog(*parts: bytes) -> bytes:
    return b"".join(parts)


# --- the encoder against words assembled by the conformance suite --------

def test_encoder_matches_suite_words():
    assert mov(1, 2).hex() == "b701000002000000"
    assert alu32(ADD, 0, src=1).hex() == "0c10000000000000"
    assert lddw(0, 0x1122334455667788).hex() == "18000000887766550000000044332211"
    assert call_local(9).hex() == "8510000009000000"
    assert stx(DW, 10, 1, -8).hex() == "7b1af8ff00000000"
    assert atomic(DW, ADD | FETCH, 10, 1, -8).hex() == "db1af8ff01000000"
