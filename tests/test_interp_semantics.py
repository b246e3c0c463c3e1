"""RFC 9669 edge cases on the reference interpreter, one program each.

Expected values come from the RFC's definitions (division by zero, INT_MIN /
-1, shift masking, zero extension of 32-bit results, byte swaps, atomics).
"""
from __future__ import annotations

import pytest

from dataplane.runtime.interp import HelperTable, Interpreter, Program
from test_interp_asm import (ADD, AND, ARSH, B, CMPXCHG, DIV, DW, END, FETCH, H, JA, JEQ, JGT, JSGT,
                             JSLT, JSET, LSH, MOD, MOV, MUL, NEG, OR, RSH, SUB, W, XCHG, XOR, EXIT, JMP32,
                             alu32, alu64, atomic, ins, jmp, jmp32, lddw, ldx, ldxsx, mov, prog, st, stx)

M64 = 0xFFFFFFFFFFFFFFFF
INT64_MIN = 1 << 63


def run(*parts: bytes, mem=None) -> int:
    return Interpreter(Program(prog(*parts)), HelperTable.conformance()).run(mem)


def binop64(op, a, b, off=0):
    """r0 = a; r1 = b; r0 op= r1 (register form)."""
    return run(lddw(0, a), lddw(1, b), alu64(op, 0, src=1, off=off), EXIT)


def binop32(op, a, b, off=0):
    return run(lddw(0, a), lddw(1, b), alu32(op, 0, src=1, off=off), EXIT)


@pytest.mark.parametrize("op,a,b,off,want", [
    (DIV, 7, 0, 0, 0),                                  # div by zero -> 0
    (MOD, 0xDEAD00000007, 0, 0, 0xDEAD00000007),        # mod by zero -> dst unchanged
    (DIV, M64, 2, 0, M64 >> 1),                         # unsigned
    (DIV, INT64_MIN, M64, 1, INT64_MIN),                # sdiv INT_MIN / -1 wraps
    (MOD, INT64_MIN, M64, 1, 0),                        # smod INT_MIN % -1 = 0
    (DIV, -7 & M64, 2, 1, -3 & M64),                    # sdiv truncates toward zero
    (MOD, -7 & M64, 2, 1, -1 & M64),                    # smod takes the dividend's sign
    (MOD, 7, -2 & M64, 1, 1),
    (DIV, -7 & M64, 0, 1, 0),                           # sdiv by zero -> 0
    (MOD, -7 & M64, 0, 1, -7 & M64),                    # smod by zero -> unchanged
    (LSH, 1, 65, 0, 2),                                 # shift amount & 63
    (RSH, 0x100, 64 + 4, 0, 0x10),
    (ARSH, INT64_MIN, 67, 0, 0xF000000000000000),       # arithmetic, & 63
    (ARSH, 0x40, 3, 0, 8),
    (MUL, INT64_MIN, M64, 0, INT64_MIN),
    (SUB, 0, 1, 0, M64),
])
def test_alu64_edges(op, a, b, off, want):
    assert binop64(op, a, b, off) == want


@pytest.mark.parametrize("op,a,b,off,want", [
    (DIV, 0xFFFFFFFF00000007, 0, 0, 0),                 # div by zero -> 0
    (MOD, 0xFFFFFFFF00000007, 0, 0, 7),                 # mod by zero keeps low half, zeroes the rest
    (DIV, 0xAAAAAAAA00000009, 0xFFFFFFFF00000002, 0, 4),  # only the low halves count
    (DIV, 0x80000000, 0xFFFFFFFF, 1, 0x80000000),       # sdiv32 INT_MIN / -1
    (MOD, 0x80000000, 0xFFFFFFFF, 1, 0),                # smod32 INT_MIN % -1
    (DIV, 0xFFFFFFF9, 2, 1, 0xFFFFFFFD),                # -7 / 2 = -3, zero-extended
    (MOD, 0xFFFFFFF9, 2, 1, 0xFFFFFFFF),                # -7 % 2 = -1
    (MOD, 0x12345678FFFFFFF9, 0, 1, 0xFFFFFFF9),        # smod32 by zero: low half, upper zeroed
    (DIV, 0xFFFFFFF9, 0, 1, 0),
    (LSH, 1, 33, 0, 2),                                 # shift amount & 31
    (RSH, 0xF0000000, 32 + 4, 0, 0x0F000000),
    (ARSH, 0x80000000, 4, 0, 0xF8000000),               # sign of bit 31, result zero-extended
    (ARSH, 0x80000000, 36, 0, 0xF8000000),
    (ADD, 0xFFFFFFFF, 1, 0, 0),                         # wraps at 32 bits
    (ADD, 0x100000001, 0, 0, 1),                        # upper half cleared
    (MUL, 0x10000, 0x10000, 0, 0),
    (MOV, 0, M64, 0, 0xFFFFFFFF),                       # mov32 zero-extends
    (XOR, 0xFFFFFFFF00000000, 0, 0, 0),
])
def test_alu32_edges(op, a, b, off, want):
    assert binop32(op, a, b, off) == want


def test_immediate_forms_sign_extend():
    # ALU64 K: imm sign-extended, then unsigned for div
    assert run(lddw(0, M64), alu64(DIV, 0, -1), EXIT) == 1
    assert run(mov(0, -1), EXIT) == M64
    assert run(alu32(MOV, 0, -1), EXIT) == 0xFFFFFFFF
    assert run(lddw(0, INT64_MIN), alu64(DIV, 0, -1, off=1), EXIT) == INT64_MIN   # sdiv K
    assert run(mov(0, 9), alu64(MOD, 0, 0), EXIT) == 9                         # mod K by zero
    assert run(mov(0, 9), alu32(DIV, 0, 0), EXIT) == 0
    assert run(mov(0, 1), alu64(LSH, 0, 63 + 64), EXIT) == INT64_MIN


@pytest.mark.parametrize("alu,off,src,want", [
    (alu64, 8, 0x80, 0xFFFFFFFFFFFFFF80),
    (alu64, 16, 0x8000, 0xFFFFFFFFFFFF8000),
    (alu64, 32, 0x80000000, 0xFFFFFFFF80000000),
    (alu64, 8, 0x17F, 0x7F),
    (alu32, 8, 0x80, 0xFFFFFF80),
    (alu32, 16, 0xFFFFFFFF00008000, 0xFFFF8000),
])
def test_movsx(alu, off, src, want):
    assert run(lddw(1, src), lddw(0, 0x5555), alu(MOV, 0, src=1, off=off), EXIT) == want


def test_neg():
    assert run(mov(0, 5), alu64(NEG, 0), EXIT) == -5 & M64
    assert run(lddw(0, 0xFFFFFFFF80000000), alu32(NEG, 0), EXIT) == 0x80000000
    assert run(lddw(0, 0x1200000001), alu32(NEG, 0), EXIT) == 0xFFFFFFFF


V = 0x1122334455667788


@pytest.mark.parametrize("code,imm,want", [
    (0xD4, 16, 0x7788), (0xD4, 32, 0x55667788), (0xD4, 64, V),                        # le
    (0xDC, 16, 0x8877), (0xDC, 32, 0x88776655), (0xDC, 64, 0x8877665544332211),       # be
    (0xD7, 16, 0x8877), (0xD7, 32, 0x88776655), (0xD7, 64, 0x8877665544332211),       # bswap
])
def test_byte_order(code, imm, want):
    assert run(lddw(0, V), ins(code, 0, 0, 0, imm), EXIT) == want


def test_jumps_signed_unsigned_and_32bit():
    r1_minus_1 = [mov(1, -1), mov(0, 0)]
    assert run(*r1_minus_1, jmp(JGT, 1, 1, 1), EXIT, mov(0, 1), EXIT) == 1    # unsigned: -1 > 1
    assert run(*r1_minus_1, jmp(JSGT, 1, 1, 1), EXIT, mov(0, 1), EXIT) == 0   # signed: -1 > 1 false
    assert run(*r1_minus_1, jmp(JSLT, 1, 1, 0), EXIT, mov(0, 1), EXIT) == 1
    # JMP32 compares the low halves only
    assert run(lddw(1, 0x100000000), mov(0, 0), jmp32(JEQ, 1, 1, 0), EXIT, mov(0, 1), EXIT) == 1
    assert run(lddw(1, 0x100000000), mov(0, 0), jmp(JEQ, 1, 1, 0), EXIT, mov(0, 1), EXIT) == 0
    # jset, register form
    assert run(mov(1, 6), mov(2, 4), mov(0, 0), jmp(JSET, 1, 1, src=2), EXIT, mov(0, 1), EXIT) == 1
    # gotol: JMP32|JA takes its target from imm
    assert run(mov(0, 1), ins(JMP32 | JA, 0, 0, 0, 1), mov(0, 2), EXIT) == 1
    # backward ja loop: count to 10
    assert run(mov(0, 0), alu64(ADD, 0, 1), jmp(JEQ, 0, 1, 10), jmp(JA, 0, -3), EXIT) == 10


def test_loads_stores_all_sizes_and_sign_extension():
    mem = bytearray(bytes.fromhex("8182838485868788"))
    assert run(ldx(B, 0, 1, 0), EXIT, mem=mem) == 0x81
    assert run(ldx(H, 0, 1, 0), EXIT, mem=mem) == 0x8281
    assert run(ldx(W, 0, 1, 0), EXIT, mem=mem) == 0x84838281
    assert run(ldx(DW, 0, 1, 0), EXIT, mem=mem) == 0x8887868584838281
    assert run(ldxsx(B, 0, 1, 0), EXIT, mem=mem) == 0xFFFFFFFFFFFFFF81
    assert run(ldxsx(H, 0, 1, 0), EXIT, mem=mem) == 0xFFFFFFFFFFFF8281
    assert run(ldxsx(W, 0, 1, 0), EXIT, mem=mem) == 0xFFFFFFFF84838281
    assert run(ldx(H, 0, 1, 1), EXIT, mem=mem) == 0x8382                         # unaligned
    run(st(B, 1, 0, 0x11), st(H, 1, 1, 0x2233), st(W, 1, 4, -1), mov(0, 0), EXIT, mem=mem)
    assert mem.hex() == "11332284ffffffff"
    run(lddw(2, V), stx(DW, 1, 2, 0), mov(0, 0), EXIT, mem=mem)
    assert mem == V.to_bytes(8, "little")
    # stack round trip through r10
    assert run(lddw(1, V), stx(DW, 10, 1, -8), ldx(W, 0, 10, -4), EXIT) == 0x11223344


def _atomic_run(size, op, init, operand, r0=0):
    """mem = init; r2 = operand; atomic op [r1], r2; returns (r0, r2, mem value)."""
    mem = bytearray(init.to_bytes(8, "little"))
    nbytes = 8 if size == DW else 4
    out_r0 = Interpreter(Program(prog(lddw(2, operand), lddw(0, r0), atomic(size, op, 1, 2, 0), EXIT))).run(mem)
    code2 = prog(lddw(2, operand), lddw(0, r0), atomic(size, op, 1, 2, 0), alu64(MOV, 0, src=2), EXIT)
    mem2 = bytearray(init.to_bytes(8, "little"))
    out_r2 = Interpreter(Program(code2)).run(mem2)
    assert mem2 == mem
    return out_r0, out_r2, int.from_bytes(mem[:nbytes], "little")


@pytest.mark.parametrize("size,op,init,operand,want_src,want_mem", [
    (DW, ADD, 10, 5, 5, 15),
    (DW, ADD | FETCH, 10, 5, 10, 15),
    (DW, OR | FETCH, 0xF0, 0x0F, 0xF0, 0xFF),
    (DW, AND | FETCH, 0xF0, 0x3C, 0xF0, 0x30),
    (DW, XOR | FETCH, 0xFF, 0x0F, 0xFF, 0xF0),
    (DW, XCHG, 0x1111, 0x2222, 0x1111, 0x2222),
    (W, ADD | FETCH, 0xFFFFFFFF, 1, 0xFFFFFFFF, 0),           # 32-bit wrap, old value zero-extended
    (W, ADD, 0xFFFFFFFF, 0xAAAAAAAA00000001, 0xAAAAAAAA00000001, 0),
    (W, XCHG, 0x11111111, 0xFFFFFFFF22222222, 0x11111111, 0x22222222),
    (W, XOR | FETCH, 0x0F0F0F0F, 0xFFFFFFFF, 0x0F0F0F0F, 0xF0F0F0F0),
])
def test_atomics(size, op, init, operand, want_src, want_mem):
    _, src, memval = _atomic_run(size, op, init, operand)
    assert src == want_src
    assert memval == want_mem


def test_atomic_only_touches_its_width():
    mem = bytearray(b"\x01\x00\x00\x00\x99\x99\x99\x99")
    Interpreter(Program(prog(mov(2, 1), atomic(W, ADD, 1, 2, 0), mov(0, 0), EXIT))).run(mem)
    assert mem == b"\x02\x00\x00\x00\x99\x99\x99\x99"


@pytest.mark.parametrize("size,init,r0,operand,want_r0,want_mem", [
    (DW, 5, 5, 9, 5, 9),                                # match: store, r0 = old
    (DW, 5, 6, 9, 5, 5),                                # no match: keep, r0 = old
    (W, 5, 0xFFFFFFFF00000005, 9, 5, 9),                # 32-bit compares the low half of r0
    (W, 0xFFFFFFFF, 0, 1, 0xFFFFFFFF, 0xFFFFFFFF),      # old value zero-extended into r0
])
def test_cmpxchg(size, init, r0, operand, want_r0, want_mem):
    out_r0, _, memval = _atomic_run(size, CMPXCHG, init, operand, r0=r0)
    assert out_r0 == want_r0
    assert memval == want_mem
