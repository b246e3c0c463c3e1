"""Tristate numbers (kernel/bpf/tnum.c semantics): a value known bit by bit.

A tnum is a pair ``(value, mask)`` of 64-bit unsigned ints: bits set in
``mask`` are unknown, the others equal the bits of ``value``.  Plain tuples
keep register copies cheap; every function returns a new tuple.
"""
from __future__ import annotations

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
UNKNOWN = (0, M64)


def const(v: int) -> tuple[int, int]:
    return (v & M64, 0)


def trange(lo: int, hi: int) -> tuple[int, int]:
    """Smallest tnum containing every value of the unsigned range [lo, hi]."""
    chi = lo ^ hi
    if chi == 0:
        return (lo & M64, 0)
    bits = chi.bit_length()
    if bits > 63:
        return UNKNOWN
    delta = (1 << bits) - 1
    return (lo & ~delta & M64, delta)


def add(a, b):
    sm = (a[1] + b[1]) & M64
    sv = (a[0] + b[0]) & M64
    sigma = (sm + sv) & M64
    chi = sigma ^ sv
    mu = chi | a[1] | b[1]
    return (sv & ~mu & M64, mu)


def sub(a, b):
    dv = (a[0] - b[0]) & M64
    alpha = (dv + a[1]) & M64
    beta = (dv - b[1]) & M64
    chi = alpha ^ beta
    mu = chi | a[1] | b[1]
    return (dv & ~mu & M64, mu)


def tand(a, b):
    alpha = a[0] | a[1]
    beta = b[0] | b[1]
    v = a[0] & b[0]
    return (v, alpha & beta & ~v & M64)


def tor(a, b):
    v = a[0] | b[0]
    mu = a[1] | b[1]
    return (v, mu & ~v & M64)


def xor(a, b):
    v = a[0] ^ b[0]
    mu = a[1] | b[1]
    return (v & ~mu & M64, mu)


def lshift(a, s, width=64):
    m = M64 if width == 64 else M32
    return ((a[0] << s) & m, (a[1] << s) & m)


def rshift(a, s):
    return (a[0] >> s, a[1] >> s)


def arshift(a, s, width=64):
    """Arithmetic shift of a ``width``-bit tnum (result zero-extended)."""
    m = M64 if width == 64 else M32
    sign = 1 << (width - 1)

    def sx(x):
        x &= m
        return x - (1 << width) if x & sign else x
    return ((sx(a[0]) >> s) & m, (sx(a[1]) >> s) & m)


def mul(a, b):
    # Kernel's tnum_mul: accumulate partial products bit by bit of a.
    acc_v = (a[0] * b[0]) & M64
    acc_m = (0, 0)
    av, am = a
    bt = b
    while av or am:
        if av & 1:
            acc_m = add(acc_m, (0, bt[1]))
        elif am & 1:
            acc_m = add(acc_m, (0, bt[0] | bt[1]))
        av >>= 1
        am >>= 1
        bt = lshift(bt, 1)
    return add((acc_v, 0), acc_m)


def intersect(a, b):
    v = a[0] | b[0]
    mu = a[1] & b[1]
    return (v & ~mu & M64, mu)


def subreg(a):
    """Low 32 bits (zero-extended)."""
    return (a[0] & M32, a[1] & M32)


def with_subreg(a, sub32):
    """``a`` with its low 32 bits replaced by ``sub32``."""
    return ((a[0] & ~M32 & M64) | (sub32[0] & M32), (a[1] & ~M32 & M64) | (sub32[1] & M32))


def is_const(a) -> bool:
    return a[1] == 0


def contains(outer, inner) -> bool:
    """True if every value of ``inner`` is a value of ``outer`` (tnum_in)."""
    if inner[1] & ~outer[1]:
        return False
    return (inner[0] & ~outer[1]) == outer[0]


def umin(a) -> int:
    return a[0]


def umax(a) -> int:
    return a[0] | a[1]


def fmt(a) -> str:
    return f"(0x{a[0]:x}; 0x{a[1]:x})"
