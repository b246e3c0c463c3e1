"""Scalar range arithmetic: tnum + unsigned and signed bounds, per width.

A bounded scalar is the tuple ``(vo, umin, umax, smin, smax)`` where ``vo`` is
a tnum, ``umin..umax`` an unsigned and ``smin..smax`` a signed range of the
given width (64, or 32 for ALU32 ops).  Semantics follow the kernel's
adjust_scalar_min_max_vals / reg_bounds_sync: each op computes what it can in
each domain, then :func:`sync` lets the domains tighten each other.

Only 64-bit bounds are stored in registers; a 32-bit view is derived when an
ALU32 op or JMP32 compare needs it (the kernel tracks both; deriving loses a
little precision when the upper half is unknown, never soundness).
"""
from __future__ import annotations

from dataplane.verifier import tnum

M64 = tnum.M64
M32 = tnum.M32


def limits(w: int):
    """(umax, smin, smax) of the width."""
    if w == 64:
        return M64, -(1 << 63), (1 << 63) - 1
    return M32, -(1 << 31), (1 << 31) - 1


def to_signed(v: int, w: int) -> int:
    v &= (1 << w) - 1
    return v - (1 << w) if v >> (w - 1) else v


def unknown(w: int = 64):
    umax, smin, smax = limits(w)
    return ((0, umax), 0, umax, smin, smax)


def const(v: int, w: int = 64):
    m = (1 << w) - 1
    v &= m
    return ((v, 0), v, v, to_signed(v, w), to_signed(v, w))


def is_const(b) -> bool:
    return b[0][1] == 0


def sync(b, w: int = 64):
    """reg_bounds_sync: tnum -> ranges, ranges <-> each other, ranges -> tnum."""
    (v, m), umin, umax, smin, smax = b
    sign = 1 << (w - 1)
    # __update_reg_bounds: what the known bits say.
    smin = max(smin, to_signed(v | (m & sign), w))
    smax = min(smax, to_signed(v | (m & (sign - 1)), w))
    umin = max(umin, v)
    umax = min(umax, v | m)
    # __reg_deduce_bounds: a signed range that does not cross the sign
    # boundary is also an unsigned range, and vice versa.
    if (umin ^ umax) & sign == 0:
        smin = max(smin, to_signed(umin, w))
        smax = min(smax, to_signed(umax, w))
    if (smin < 0) == (smax < 0):
        mask = (1 << w) - 1
        umin = max(umin, smin & mask)
        umax = min(umax, smax & mask)
    if umin > umax or smin > smax:
        return None  # contradiction: the path is impossible
    # __reg_bound_offset: ranges narrow the tnum.
    vo = tnum.intersect((v, m), tnum.trange(umin, umax))
    if w == 32:
        vo = (vo[0] & M32, vo[1] & M32)
    (v, m) = vo
    smin = max(smin, to_signed(v | (m & sign), w))
    smax = min(smax, to_signed(v | (m & (sign - 1)), w))
    umin = max(umin, v)
    umax = min(umax, v | m)
    if umin > umax or smin > smax:
        return None
    return (vo, umin, umax, smin, smax)


def subreg32(b):
    """32-bit view of a 64-bit bounded scalar."""
    vo, umin, umax, smin, smax = b
    v32 = tnum.subreg(vo)
    if umin >> 32 == umax >> 32:
        u0, u1 = umin & M32, umax & M32
    else:
        u0, u1 = 0, M32
    if -(1 << 31) <= smin and smax < (1 << 31):
        s0, s1 = smin, smax
    elif smin >> 32 == smax >> 32:
        s0, s1 = to_signed(smin, 32), to_signed(smax, 32)
        if s0 > s1:
            s0, s1 = -(1 << 31), (1 << 31) - 1
    else:
        s0, s1 = -(1 << 31), (1 << 31) - 1
    r = sync((v32, u0, u1, s0, s1), 32)
    return r if r is not None else unknown(32)


def zext32(b32):
    """A 32-bit result written to a register: upper half becomes zero."""
    vo, umin, umax, _, _ = b32
    return sync(((vo[0] & M32, vo[1] & M32), umin, umax, umin, umax), 64)


def alu(opname: str, a, b, w: int = 64):
    """Result of ``a <op> b`` on bounded scalars of width ``w``."""
    umaxw, sminw, smaxw = limits(w)
    mask = umaxw
    if is_const(a) and is_const(b) and opname not in ("div", "mod"):
        x, y = a[1], b[1]
        if opname == "add":
            return const(x + y, w)
        if opname == "sub":
            return const(x - y, w)
        if opname == "mul":
            return const(x * y, w)
        if opname == "and":
            return const(x & y, w)
        if opname == "or":
            return const(x | y, w)
        if opname == "xor":
            return const(x ^ y, w)
        if opname == "lsh":
            return const(x << (y & (w - 1)), w)
        if opname == "rsh":
            return const(x >> (y & (w - 1)), w)
        if opname == "arsh":
            return const(to_signed(x, w) >> (y & (w - 1)), w)
    va, ua0, ua1, sa0, sa1 = a
    vb, ub0, ub1, sb0, sb1 = b
    if opname == "add":
        vo = tnum.add(va, vb)
        if w == 32:
            vo = tnum.subreg(vo)
        s0, s1 = sa0 + sb0, sa1 + sb1
        if s0 < sminw or s1 > smaxw:
            s0, s1 = sminw, smaxw
        u0, u1 = ua0 + ub0, ua1 + ub1
        if u1 > umaxw:
            u0, u1 = 0, umaxw
    elif opname == "sub":
        vo = tnum.sub(va, vb)
        if w == 32:
            vo = tnum.subreg(vo)
        s0, s1 = sa0 - sb1, sa1 - sb0
        if s0 < sminw or s1 > smaxw:
            s0, s1 = sminw, smaxw
        if ua0 < ub1:
            u0, u1 = 0, umaxw
        else:
            u0, u1 = ua0 - ub1, ua1 - ub0
    elif opname == "mul":
        vo = tnum.mul(va, vb)
        if w == 32:
            vo = tnum.subreg(vo)
        u0, u1 = ua0 * ub0, ua1 * ub1
        if u1 > umaxw:
            u0, u1 = 0, umaxw
        corners = (sa0 * sb0, sa0 * sb1, sa1 * sb0, sa1 * sb1)
        s0, s1 = min(corners), max(corners)
        if s0 < sminw or s1 > smaxw:
            s0, s1 = sminw, smaxw
    elif opname in ("and", "or", "xor"):
        if opname == "and":
            vo = tnum.tand(va, vb)
            u0, u1 = vo[0], min(ua1, ub1)
        elif opname == "or":
            vo = tnum.tor(va, vb)
            u0, u1 = max(ua0, ub0), vo[0] | vo[1]
        else:
            vo = tnum.xor(va, vb)
            u0, u1 = vo[0], vo[0] | vo[1]
        if sa0 >= 0 and sb0 >= 0:
            s0, s1 = u0, u1
        else:
            s0, s1 = sminw, smaxw
    elif opname in ("lsh", "rsh", "arsh"):
        if not is_const(b) or b[1] >= w:
            return unknown(w)
        s = b[1]
        if opname == "lsh":
            vo = tnum.lshift(va, s, w)
            if ua1 > (umaxw >> s):
                u0, u1 = 0, umaxw
            else:
                u0, u1 = ua0 << s, ua1 << s
            s0, s1 = sminw, smaxw
        elif opname == "rsh":
            vo = tnum.rshift(va, s)
            u0, u1 = ua0 >> s, ua1 >> s
            s0, s1 = sminw, smaxw
        else:
            vo = tnum.arshift(va, s, w)
            s0, s1 = sa0 >> s, sa1 >> s
            u0, u1 = 0, umaxw
    else:  # div, mod, and anything unmodelled: the kernel forgets the value
        return unknown(w)
    r = sync((vo, u0, u1, s0, s1), w)
    return r if r is not None else unknown(w)


def contains(outer, inner) -> bool:
    """Every value of ``inner`` is a value of ``outer`` (range_within + tnum_in)."""
    return (outer[1] <= inner[1] and inner[2] <= outer[2] and outer[3] <= inner[3]
            and inner[4] <= outer[4] and tnum.contains(outer[0], inner[0]))
