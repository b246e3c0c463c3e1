"""The native scalar range arithmetic (dataplane/verifier/bounds.pyx, the
fast path) gives exactly what the Python reference (scalar.py, tnum.py,
branch.py) gives, for every ALU op, sync, negation and branch refinement,
on bounds reachable by the verifier (built by random operation chains from
constants, packet-byte-like ranges and unknowns) and on edge values."""
from __future__ import annotations

import random

import pytest

from dataplane.isa import opcodes as op
from dataplane.verifier import bounds, branch, scalar   # bounds: native, built by setup.py (no skip: a missing build fails)

OPS = ("add", "sub", "mul", "and", "or", "xor")
SHIFTS = ("lsh", "rsh", "arsh")
JMPS = (op.BPF_JEQ, op.BPF_JNE, op.BPF_JGT, op.BPF_JGE, op.BPF_JLT, op.BPF_JLE, op.BPF_JSGT, op.BPF_JSGE,
        op.BPF_JSLT, op.BPF_JSLE, op.BPF_JSET)
EDGE = (0, 1, 2, 7, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63,
        (1 << 64) - 1, (1 << 64) - 2, 0xFFFFFFFF00000000, 0x80000000FFFFFFFF)


def _pool(rng: random.Random, n: int) -> list:
    pool = [scalar.const(v) for v in EDGE] + [scalar.unknown()]
    for w in (8, 16, 32):
        m = (1 << w) - 1
        pool.append(scalar.from64((0, m), 0, m, 0, m))
    pool.append(scalar.sync(scalar.zext32(scalar.unknown())))
    while len(pool) < n:
        a, b = rng.choice(pool), rng.choice(pool)
        k = rng.random()
        if k < 0.5:
            r = scalar._alu_py(rng.choice(OPS), a, b, rng.random() < 0.3)
        elif k < 0.6:
            r = scalar._alu_py(rng.choice(SHIFTS), a, scalar.const(rng.randrange(64)), False)
        elif k < 0.7:
            r = scalar._alu_py(rng.choice(SHIFTS), a, scalar.const(rng.randrange(32)), True)
        else:
            o, is32 = rng.choice(JMPS), rng.random() < 0.3
            if branch._branch_taken_py(o, a, b, is32) != -1:
                continue     # decided branches are not refined
            o = -o if o == op.BPF_JSET and rng.random() < 0.5 else o
            r = branch._refine_py(o, a, b, is32)[rng.randrange(2)]
        if scalar._valid_py(r):
            pool.append(r)
    return pool


def _same(native, python, *args):
    try:
        got = native(*args)
    except (OverflowError, ArithmeticError):
        return          # the caller falls back to Python: nothing to compare
    assert got == python(*args), args


@pytest.mark.parametrize("seed", range(6))
def test_native_bounds_match_python(seed):
    rng = random.Random(seed)
    pool = _pool(rng, 400)
    for _ in range(3000):
        a, b = rng.choice(pool), rng.choice(pool)
        alu32 = rng.random() < 0.4
        _same(bounds.alu, scalar._alu_py, rng.choice(OPS), a, b, alu32)
        s = scalar.const(rng.randrange(32 if alu32 else 64))
        _same(bounds.alu, scalar._alu_py, rng.choice(SHIFTS), a, s, alu32)
        _same(bounds.neg, scalar._neg_py, a, alu32)
        _same(bounds.sync, scalar._sync_py, a)
        _same(bounds.valid, scalar._valid_py, a)
        _same(bounds.zext32, scalar.zext32, a)
        o = rng.choice(JMPS)
        is32 = rng.random() < 0.4
        _same(bounds.branch_taken, branch._branch_taken_py, o, a, b, is32, rng.random() < 0.05)
        if branch._branch_taken_py(o, a, b, is32) == -1:     # only undecided branches are refined
            o = -o if o == op.BPF_JSET and rng.random() < 0.5 else o
            _same(bounds.refine, branch._refine_py, o, a, b, is32)


def test_scalar_uses_native():
    assert scalar.sync is not scalar._sync_py and scalar.alu is not scalar._alu_py
