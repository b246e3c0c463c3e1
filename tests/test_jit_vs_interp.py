"""Differential: the JIT and the reference interpreter must agree.

Random programs over ALU, byte-swap, sign-extension, conditional-jump, load,
store and atomic instructions (every register but r9/r10 is fair game; r9
holds the memory base and never leaks into the others) are run by both engines; r0 and the whole memory --
which ends with a dump of r0-r8 -- must be equal. Random immediates favour
edge values (0, -1, INT_MIN, shift widths) where C and BPF differ. The
conformance programs are compared too, including their error messages.
"""
from __future__ import annotations

import json
import re
import random
import struct

import pytest

from conftest import CONFORMANCE

from dataplane.errors import ExecutionError

DATA = 64                      # bytes of scratch memory the program may use
MEM = DATA + 9 * 8             # + the register dump
SLOTS = 8                      # stack slots r10-8 .. r10-64, zeroed by the prologue
EDGE = [0, 1, -1, 2, 7, 31, 32, 63, 64, -0x80000000, 0x7FFFFFFF, 0x12345678, -2, 3]


def ins(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


def _imm(rng):
    return rng.choice(EDGE) if rng.random() < 0.5 else rng.randint(-0x80000000, 0x7FFFFFFF)


def _reg(rng):
    return rng.randint(0, 8)


def _body_insn(rng, i, n):
    """One random instruction at body position i of n (jumps go forward only,
    possibly to the epilogue at n)."""
    kind = rng.random()
    if kind < 0.45:                                  # ALU, K or X, 32 or 64
        cls = rng.choice((0x04, 0x07))
        op = rng.choice((0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0, 0xB0, 0xC0))
        off = 1 if op in (0x30, 0x90) and rng.random() < 0.4 else 0  # sdiv / smod
        if rng.random() < 0.5:
            return [ins(cls | op, _reg(rng), 0, off, _imm(rng))]
        return [ins(cls | op | 0x08, _reg(rng), _reg(rng), off)]
    if kind < 0.52:                                  # neg, le/be, bswap, movsx
        r = rng.random()
        if r < 0.25:
            return [ins(rng.choice((0x84, 0x87)), _reg(rng))]
        if r < 0.5:
            return [ins(rng.choice((0xD4, 0xDC, 0xD7)), _reg(rng), 0, 0, rng.choice((16, 32, 64)))]
        cls, widths = rng.choice(((0x07, (8, 16, 32)), (0x04, (8, 16))))
        return [ins(cls | 0xB8, _reg(rng), _reg(rng), rng.choice(widths))]
    if kind < 0.56:                                  # lddw
        return [ins(0x18, _reg(rng), 0, 0, _imm(rng)), ins(0, 0, 0, 0, _imm(rng))]
    if kind < 0.70:                                  # forward conditional jump
        cls = rng.choice((0x05, 0x06))
        op = rng.choice((0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xA0, 0xB0, 0xC0, 0xD0))
        off = rng.randint(0, max(0, n - i - 1))
        if rng.random() < 0.5:
            return [ins(cls | op, _reg(rng), 0, off, _imm(rng))]
        return [ins(cls | op | 0x08, _reg(rng), _reg(rng), off)]
    size, code_bits = rng.choice(((1, 0x10), (2, 0x08), (4, 0x00), (8, 0x18)))
    on_stack = rng.random() < 0.4
    if on_stack:
        base, off = 10, -8 * rng.randint(1, SLOTS) + rng.randrange(0, 8, size)
    else:
        base, off = 9, rng.randrange(0, DATA - size + 1, size)
    r = rng.random()
    if r < 0.35:                                     # load (sign-extending for < 8 bytes sometimes)
        mode = 0x80 if size < 8 and rng.random() < 0.3 else 0x60
        return [ins(0x01 | mode | code_bits, _reg(rng), base, off)]
    if r < 0.55:
        return [ins(0x02 | 0x60 | code_bits, base, 0, off, _imm(rng))]
    if r < 0.8 or size < 4:
        return [ins(0x03 | 0x60 | code_bits, base, _reg(rng), off)]
    aop = rng.choice((0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1))
    return [ins(0xC3 | code_bits, base, _reg(rng), off, aop)]


def random_program(rng, n=40):
    # r9 = r1 (memory base, never written again); r1 = 0 so that no address
    # (which differs between the engines' copies of the memory) reaches the dump.
    prologue = [ins(0xBF, 9, 1), ins(0xB7, 1, 0, 0, 0)]
    prologue += [ins(0x7A, 10, 0, -8 * k, 0) for k in range(1, SLOTS + 1)]
    body = []
    for i in range(n):
        body.extend(_body_insn(rng, i, n))
    fixed = _fix_jumps(body)
    epilogue = [ins(0x7B, 9, r, DATA + 8 * r) for r in range(9)] + [ins(0x95)]
    return b"".join(prologue + fixed + epilogue)


def _fix_jumps(body):
    """Clamp forward jump offsets so they land on an instruction start (not
    inside an lddw) at or before the epilogue."""
    second = set()
    for idx, w in enumerate(body):
        if w[0] == 0x18:
            second.add(idx + 1)
    out = []
    for idx, w in enumerate(body):
        code = w[0]
        if code & 0x07 in (0x05, 0x06) and code & 0xF0 not in (0x80, 0x90) and code != 0x05:
            off = struct.unpack_from("<h", w, 2)[0]
            target = min(idx + 1 + off, len(body))
            while target in second:
                target += 1
            w = w[:2] + struct.pack("<h", target - idx - 1) + w[4:]
        out.append(w)
    return out


def _both(code, mem, checked=True, packet=None):
    from dataplane.runtime.interp import HelperTable, Interpreter, Program
    from dataplane.runtime.jit.engine import JitProgram

    results = []
    for engine in ("interp", "jit"):
        m = bytearray(mem)
        try:
            if engine == "interp":
                r0 = Interpreter(Program(code), HelperTable.conformance()).run(m, packet=packet)
            else:
                r0 = JitProgram(code, checked, HelperTable.conformance()).run(m, packet=packet)
            results.append(("ok", r0, bytes(m)))
        except ExecutionError as exc:
            # addresses differ between the engines' stacks and memory copies
            results.append(("error", re.sub(r"0x[0-9a-f]+", "0x?", str(exc)), exc.pc))
    return results


@pytest.fixture(scope="module")
def random_programs():
    rng = random.Random(0x5EED)
    progs = [random_program(rng, rng.randint(10, 60)) for _ in range(120)]
    mems = [bytes(rng.getrandbits(8) for _ in range(DATA)) + bytes(MEM - DATA) for _ in progs]
    from dataplane.runtime.jit import compiler, engine

    for checked in (True, False):
        res = compiler.build_many([(p, checked) for p in progs], engine.decode)
        assert not [r for r in res if isinstance(r, Exception)]
    return list(zip(progs, mems))


@pytest.mark.parametrize("checked", [True, False], ids=["checked", "unchecked"])
def test_random_programs_agree(random_programs, checked):
    for idx, (code, mem) in enumerate(random_programs):
        interp, jit = _both(code, mem, checked)
        assert interp[0] == "ok", (idx, interp)
        assert jit == interp, f"program {idx}: {code.hex()}"


def test_random_programs_exercise_edge_semantics(random_programs):
    """The generator must actually reach the interesting cases."""
    ops = {code[i] for code, _ in random_programs for i in range(0, len(code), 8)}
    for op in (0x3F, 0x9F, 0x34, 0x94, 0xCF, 0xDC, 0xD7, 0xDB, 0xC3, 0x81, 0x18):
        assert op in ops, hex(op)


CASES = json.loads((CONFORMANCE / "assembled.json").read_text()) if (CONFORMANCE / "assembled.json").exists() else {}


def test_conformance_programs_agree():
    """Every conformance program: same r0 and memory, or the same error."""
    assert CASES, "the conformance suite (../shared/conformance) must be present"
    from dataplane.runtime.jit import compiler, engine

    compiler.build_many([(bytes.fromhex(c["program"]), True) for c in CASES.values()], engine.decode)
    for name, case in CASES.items():
        interp, jit = _both(bytes.fromhex(case["program"]), bytes.fromhex(case["mem"]))
        assert jit == interp, name


@pytest.mark.parametrize("program", [
    # out-of-bounds store past the memory, at insn 1
    ins(0xB7, 0, 0, 0, 0) + ins(0x7A, 1, 0, 64, 1) + ins(0x95),
    # load below the stack frame
    ins(0x79, 0, 10, -520) + ins(0x95),
    # load above the top of the stack
    ins(0x79, 0, 10, 8) + ins(0x95),
    # unknown helper
    ins(0x85, 0, 0, 0, 77) + ins(0x95),
    # infinite recursion: call to itself exceeds the call depth
    ins(0x85, 0, 1, 0, -1) + ins(0x95),
    # a callee reads the caller's stack through a pointer
    ins(0x7A, 10, 0, -8, 42) + ins(0xBF, 1, 10) + ins(0x07, 1, 0, 0, -8) + ins(0x85, 0, 1, 0, 1) + ins(0x95)
    + ins(0x79, 0, 1, 0) + ins(0x07, 0, 0, 0, 1) + ins(0x95),
    # LD_ABS / LD_IND inside and outside the packet
    ins(0x28, 0, 0, 0, 2) + ins(0xB7, 6, 0, 0, 1) + ins(0x50, 0, 6, 0, 3) + ins(0x95),
    ins(0x20, 0, 0, 0, 100) + ins(0xB7, 0, 0, 0, 9) + ins(0x95),
], ids=["oob-store", "below-frame", "above-stack", "unknown-helper", "recursion", "caller-stack", "ldabs-ldind",
        "ldabs-outside"])
def test_edge_programs_agree(program):
    interp, jit = _both(program, bytes(64), packet=bytes(range(16)))
    assert jit == interp
