"""Differential test: random ALU/JMP programs on the interpreter vs the kernel.

Each random body starts from ten registers loaded with edge-case values, runs
ALU64/ALU32 ops (both source forms, sdiv/smod, movsx, be/le/bswap, neg) and
forward conditional jumps (JMP and JMP32), then stores r0-r9 into the packet.
The kernel runs it as XDP through BPF_PROG_TEST_RUN; the interpreter runs the
same body with the packet as its input memory. The 80 result bytes must match.
"""
from __future__ import annotations

import random

import pytest

from conftest import require
from dataplane.runtime.interp import Interpreter, Program
from test_interp_asm import (ADD, AND, ARSH, DIV, DW, JEQ, JGE, JGT, JLE, JLT, JNE, JSET, JSGE, JSGT, JSLE,
                             JSLT, LSH, MOD, MOV, MUL, NEG, OR, RSH, SUB, W, XOR, EXIT, alu32, alu64, ins,
                             jmp, jmp32, lddw, ldx, mov, prog, stx)

from dataplane.io import kbpf  # noqa: E402  (part of the project: never skipped)

EDGE = [0, 1, 2, 7, 0xFFFFFFFFFFFFFFFF, 1 << 63, (1 << 63) - 1, 0x80000000, 0x7FFFFFFF, 0xFFFFFFFF,
        0xFFFFFFFF80000000, 0x100000000, 0x8000, 0x80, 0xFFFFFFFFFFFFFFFE]
BINOPS = [ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, MOD, XOR, MOV, ARSH]
CONDS = [JEQ, JNE, JGT, JGE, JLT, JLE, JSET, JSGT, JSGE, JSLT, JSLE]
NREGS = 10


def _value(rng: random.Random) -> int:
    return rng.choice(EDGE) if rng.random() < 0.6 else rng.getrandbits(rng.choice([8, 16, 32, 64]))


def _alu(rng: random.Random) -> bytes:
    is64 = rng.random() < 0.5
    alu = alu64 if is64 else alu32
    width = 64 if is64 else 32
    dst, src = rng.randrange(NREGS), rng.randrange(NREGS)
    kind = rng.random()
    if kind < 0.08:
        return alu(NEG, dst)
    if kind < 0.16:  # movsx (register form only)
        return alu(MOV, dst, src=src, off=rng.choice([8, 16, 32] if is64 else [8, 16]))
    if kind < 0.24:  # be/le (ALU) or bswap (ALU64)
        return ins(rng.choice([0xD4, 0xDC, 0xD7]), dst, 0, 0, rng.choice([16, 32, 64]))
    op = rng.choice(BINOPS)
    off = 1 if op in (DIV, MOD) and rng.random() < 0.5 else 0
    if rng.random() < 0.5:
        return alu(op, dst, src=src, off=off)
    if op in (LSH, RSH, ARSH):
        imm = rng.randrange(width)          # the kernel rejects out-of-range shift immediates
    elif op in (DIV, MOD):
        imm = rng.choice([1, 3, -1, -7, 0x7FFFFFFF, -0x80000000])   # and division by a zero immediate
    else:
        imm = rng.choice([0, 1, -1, 0x7FFFFFFF, -0x80000000, rng.getrandbits(31)])
    return alu(op, dst, imm, off=off)


def _body(rng: random.Random, n: int) -> list[bytes]:
    out = [lddw(r, _value(rng)) for r in range(NREGS)]
    i = 0
    while i < n:
        if rng.random() < 0.15 and i + 3 < n:
            j = rng.choice([jmp, jmp32])
            skip = rng.randrange(1, 3)
            if rng.random() < 0.5:
                out.append(j(rng.choice(CONDS), rng.randrange(NREGS), skip, rng.choice([0, 1, -1, 0x7FFFFFFF])))
            else:
                out.append(j(rng.choice(CONDS), rng.randrange(NREGS), skip, src=rng.randrange(NREGS)))
        else:
            out.append(_alu(rng))
        i += 1
    return out


def _epilogue() -> list[bytes]:
    # r0 is parked on the stack while it carries the packet pointer
    return [stx(DW, 10, 0, -16), ldx(DW, 0, 10, -8)] + [stx(DW, 0, r, 8 * r) for r in range(1, NREGS)] + \
           [ldx(DW, 1, 10, -16), stx(DW, 0, 1, 0), mov(0, 2), EXIT]


def kernel_program(body: list[bytes]) -> bytes:
    """XDP: bounds-check 80 bytes of packet, park the packet pointer at r10-8, run the body."""
    rest = prog(stx(DW, 10, 6, -8), *body, *_epilogue())
    return prog(ldx(W, 6, 1, 0), ldx(W, 7, 1, 4),               # data, data_end (struct xdp_md)
                alu64(MOV, 8, src=6), alu64(ADD, 8, 8 * NREGS),
                jmp(JGT, 8, len(rest) // 8, src=7),             # too short: -> bail out
                rest, mov(0, 0), EXIT)


def interp_program(body: list[bytes]) -> bytes:
    return prog(stx(DW, 10, 1, -8), *body, *_epilogue())


@pytest.fixture
def kernel(root_required):
    try:
        fd = kbpf.prog_load(prog(mov(0, 2), EXIT)).fd
    except OSError as exc:
        require(False, f"BPF_PROG_LOAD of an XDP program: {exc}")
    kbpf.close(fd)
    return kbpf


@pytest.mark.parametrize("seed", range(8))
def test_random_alu_programs_match_kernel(kernel, seed):
    rng = random.Random(seed)
    for case in range(25):
        body = _body(rng, 24)
        kcode = kernel_program(body)
        try:
            loaded = kernel.prog_load(kcode)
        except kernel.KernelBpfError as exc:
            pytest.fail(f"seed {seed} case {case}: kernel rejected the program: {exc.log[-400:]}")
        with loaded:
            res = kernel.prog_test_run(loaded.fd, bytes(8 * NREGS))
        assert res.retval == 2
        mem = bytearray(8 * NREGS)
        assert Interpreter(Program(interp_program(body))).run(mem) == 2
        assert mem == res.data_out[:8 * NREGS], f"seed {seed} case {case}: registers differ\n" + "\n".join(
            f"r{r}: interp {int.from_bytes(mem[8 * r:8 * r + 8], 'little'):#x} "
            f"kernel {int.from_bytes(res.data_out[8 * r:8 * r + 8], 'little'):#x}" for r in range(NREGS))
