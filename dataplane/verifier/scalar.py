"""Scalar range arithmetic: tnum + unsigned/signed bounds in 64 and 32 bits.

A bounded scalar is the 9-tuple
``(vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max)``: ``vo`` is a
64-bit tnum (its low half is the 32-bit subregister's), then the kernel's
eight range fields of struct bpf_reg_state.  Unsigned values are Python ints
in [0, 2**w), signed ones may be negative.

Semantics follow the 6.18 kernel step by step (adjust_scalar_min_max_vals,
scalar{,32}_min_max_<op>, zext_32_to_64, reg_bounds_sync): the same program
must get the same verdict, so even the places where the kernel deliberately
forgets precision (e.g. overwriting 64-bit bounds from s32 ones in
__reg_deduce_mixed_bounds) are reproduced.
"""
from __future__ import annotations

from functools import lru_cache

from dataplane.verifier import tnum

M64 = tnum.M64
M32 = tnum.M32
S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1
_NOT32 = M64 & ~M32


def limits(w: int):
    """(umax, smin, smax) of the width."""
    if w == 64:
        return M64, S64_MIN, S64_MAX
    return M32, S32_MIN, S32_MAX


def to_signed(v: int, w: int) -> int:
    v &= (1 << w) - 1
    return v - (1 << w) if v >> (w - 1) else v


def s32(v: int) -> int:
    v &= M32
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


UNKNOWN = ((0, M64), 0, M64, S64_MIN, S64_MAX, 0, M32, S32_MIN, S32_MAX)


def unknown(w: int = 64):
    return UNKNOWN


def const(v: int, w: int = 64):
    """__mark_reg_known: every field from one 64-bit value."""
    if w == 32:
        v &= M32
    v &= M64
    lo = v & M32
    return ((v, 0), v, v, s64(v), s64(v), lo, lo, s32(lo), s32(lo))


def from64(vo, umin, umax, smin, smax):
    """64-bit facts only (32-bit ones left to sync to deduce)."""
    return sync((vo, umin, umax, smin, smax, 0, M32, S32_MIN, S32_MAX))


def is_const(b) -> bool:
    return b[0][1] == 0


def is_const32(b) -> bool:
    return b[0][1] & M32 == 0


def _valid_py(b) -> bool:
    """reg_bounds_sanity_check: ranges non-empty and agreeing with a const tnum."""
    vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max = b
    if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
        return False
    if vo[1] == 0:
        v = vo[0]
        if not (umin == umax == v and smin == smax == s64(v)):
            return False
    if vo[1] & M32 == 0:
        v = vo[0] & M32
        if not (u32min == u32max == v and s32min == s32max == s32(v)):
            return False
    return True


def _update(vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max):
    """__update_reg_bounds: what the known bits say, in both widths."""
    v, m = vo
    v32, m32 = v & M32, m & M32
    s32min = max(s32min, s32(v32 | (m32 & 0x80000000)))
    s32max = min(s32max, s32(v32 | (m32 & 0x7FFFFFFF)))
    u32min = max(u32min, v32)
    u32max = min(u32max, v32 | m32)
    smin = max(smin, s64(v | (m & (1 << 63))))
    smax = min(smax, s64(v | (m & S64_MAX)))
    umin = max(umin, v)
    umax = min(umax, v | m)
    # the u64 range and the tnum may share a single value: then that is it
    # (6.18 __update_reg64_bounds, with tnum_step)
    in_tnum = umin & ~m & M64 == v
    tmax = v | m
    nxt = _tnum_step(v, m, umin)
    one = None
    if in_tnum and nxt > umax:
        one = umin
    elif not in_tnum and nxt == tmax:
        one = tmax
    elif not in_tnum and nxt <= umax and _tnum_step(v, m, nxt) > umax:
        one = nxt
    if one is not None:
        return const(one)
    return (vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max)


def _tnum_step(v: int, m: int, z: int) -> int:
    """Smallest member of tnum (v, m) greater than ``z``; its largest member
    when there is none."""
    tmax = v | m
    y = z + 1
    if y > tmax:
        return tmax
    if y <= v:
        return v
    best = None
    for i in range(tmax.bit_length() - 1, -1, -1):
        bit = 1 << i
        yi = y & bit
        if m & bit:
            if not yi:
                # set this bit where y has 0: everything below may be minimal
                best = (y & ~((bit << 1) - 1) & M64) | bit | (v & (bit - 1))
        elif (v & bit) != yi:
            if v & bit:     # forced 1 where y has 0: the value is above y
                best = (y & ~((bit << 1) - 1) & M64) | bit | (v & (bit - 1))
            break
    else:
        return y            # y itself is a member
    return best if best is not None else tmax


def _deduce_sign(umin, umax, smin, smax, mask, signed):
    """One width's signed/unsigned cross-deduction (__reg32/64_deduce_bounds):
    an unsigned range that does not cross the sign boundary bounds the signed
    one; a signed range that does not wrap bounds the unsigned one; a wrapping
    signed range with the unsigned range in its non-negative (or negative)
    part pins the other end."""
    if signed(umin) <= signed(umax):
        smin = max(smin, signed(umin))
        smax = min(smax, signed(umax))
    if smin & mask <= smax & mask:
        umin = max(umin, smin & mask)
        umax = min(umax, smax & mask)
    elif umax < smin & mask:
        smin = signed(umin)
        umax = min(umax, smax & mask)
    elif smax & mask < umin:
        smax = signed(umax)
        umin = max(umin, smin & mask)
    return umin, umax, smin, smax


def _deduce(vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max):
    """__reg_deduce_bounds: 32-bit, 64-bit, then mixed deductions."""
    # __reg32_deduce_bounds
    if umin >> 32 == umax >> 32:
        u32min = max(u32min, umin & M32)
        u32max = min(u32max, umax & M32)
        if s32(umin) <= s32(umax):
            s32min = max(s32min, s32(umin))
            s32max = min(s32max, s32(umax))
    if smin >> 32 == smax >> 32:
        u32min = max(u32min, smin & M32)
        u32max = min(u32max, smax & M32)
        if s32(smin) <= s32(smax):
            s32min = max(s32min, s32(smin))
            s32max = min(s32max, s32(smax))
    # upper halves two consecutive numbers, lower half crossing -1 -> 0
    if ((umin >> 32) + 1) & M32 == (umax >> 32) & M32 and s32(umin) < 0 <= s32(umax):
        s32min = max(s32min, s32(umin))
        s32max = min(s32max, s32(umax))
    if ((smin >> 32) + 1) & M32 == (smax >> 32) & M32 and s32(smin) < 0 <= s32(smax):
        s32min = max(s32min, s32(smin))
        s32max = min(s32max, s32(smax))
    # (6.18 does the wrapped-range rule in 32 bits too, measured)
    u32min, u32max, s32min, s32max = _deduce_sign(u32min, u32max, s32min, s32max, M32, s32)
    # __reg64_deduce_bounds
    umin, umax, smin, smax = _deduce_sign(umin, umax, smin, smax, M64, s64)
    # __reg_deduce_mixed_bounds
    umin = max(umin, (umin & _NOT32) | u32min)
    umax = min(umax, (umax & _NOT32) | u32max)
    smin = max(smin, s64((smin & _NOT32) | u32min))
    smax = min(smax, s64((smax & _NOT32) | u32max))
    if s32min >= 0 and smin >= S32_MIN and smax <= S32_MAX:
        # the kernel overwrites (not intersects) here: follow it (u64 fields:
        # a negative s32max of a dead branch's empty range wraps, as in C)
        smin, smax, umin, umax = s32min, s32max, s32min & M64, s32max & M64
        vo = tnum.intersect(vo, tnum.trange(smin & M64, smax & M64))
    return vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max


@lru_cache(maxsize=1 << 16)     # pure and hot: states repeat across paths
def _sync_py(b):
    """reg_bounds_sync.  Never fails: a contradiction shows up as an empty
    range, which callers detect with :func:`valid` (as the kernel does)."""
    b = _update(*b)
    # the kernel runs three rounds: each can sharpen the next
    b = _deduce(*_deduce(*_deduce(*b)))
    vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max = b
    # __reg_bound_offset
    v64 = tnum.intersect(vo, tnum.trange(umin, umax))
    v32 = tnum.intersect((v64[0] & M32, v64[1] & M32), tnum.trange(u32min, u32max))
    vo = ((v64[0] & _NOT32) | v32[0], (v64[1] & _NOT32) | v32[1])
    return _update(vo, umin, umax, smin, smax, u32min, u32max, s32min, s32max)


def zext32(b):
    """zext_32_to_64: the 32-bit result becomes the whole register."""
    vo, _, _, _, _, u32min, u32max, s32min, s32max = b
    if 0 <= s32min and 0 <= s32max:
        smin, smax = s32min, s32max
    else:
        smin, smax = 0, M32
    return ((vo[0] & M32, vo[1] & M32), u32min, u32max, smin, smax, u32min, u32max, s32min, s32max)


# ------------------------------------------------------------------ ALU ops
def _add(umin, umax, smin, smax, b, w):
    um, smn, smx = limits(w)
    if not (smn <= smin + b[2] <= smx and smn <= smax + b[3] <= smx):
        smin, smax = smn, smx
    else:
        smin, smax = smin + b[2], smax + b[3]
    lo_o, hi_o = umin + b[0] > um, umax + b[1] > um
    umin, umax = (umin + b[0]) & um, (umax + b[1]) & um
    if not lo_o and hi_o:
        umin, umax = 0, um
    return umin, umax, smin, smax


def _sub(umin, umax, smin, smax, b, w):
    um, smn, smx = limits(w)
    if not (smn <= smin - b[3] <= smx and smn <= smax - b[2] <= smx):
        smin, smax = smn, smx
    else:
        smin, smax = smin - b[3], smax - b[2]
    lo_u, hi_u = umin < b[1], umax < b[0]
    umin, umax = (umin - b[1]) & um, (umax - b[0]) & um
    if lo_u and not hi_u:
        umin, umax = 0, um
    return umin, umax, smin, smax


def _mul(umin, umax, smin, smax, b, w):
    um, smn, smx = limits(w)
    if umax * b[1] > um or umin * b[0] > um:
        umin, umax = 0, um
    else:
        umin, umax = umin * b[0], umax * b[1]
    prods = (smin * b[2], smin * b[3], smax * b[2], smax * b[3])
    if min(prods) < smn or max(prods) > smx:
        smin, smax = smn, smx
    else:
        smin, smax = min(prods), max(prods)
    return umin, umax, smin, smax


def _bitwise(name, umin, umax, b, vo, w):
    """and/or/xor given the result tnum ``vo`` (already width-truncated)."""
    _, smn, smx = limits(w)
    if name == "and":
        umin, umax = vo[0], min(umax, b[1])
    elif name == "or":
        umin, umax = max(umin, b[0]), vo[0] | vo[1]
    else:
        umin, umax = vo[0], vo[0] | vo[1]
    if to_signed(umin, w) <= to_signed(umax, w):
        return umin, umax, to_signed(umin, w), to_signed(umax, w)
    return umin, umax, smn, smx


def _r32(b):
    return (b[5], b[6], b[7], b[8])


def _r64(b):
    return (b[1], b[2], b[3], b[4])


@lru_cache(maxsize=1 << 16)
def _alu_py(opname: str, a, b, alu32: bool = False):
    """``a <op> b`` (adjust_scalar_min_max_vals after the safety check: shift
    amounts are constants below the width; div/mod never get here)."""
    va, vb = a[0], b[0]
    if opname in ("add", "sub", "mul", "and", "or", "xor"):
        vo = {"add": tnum.add, "sub": tnum.sub, "mul": tnum.mul, "and": tnum.tand,
              "or": tnum.tor, "xor": tnum.xor}[opname](va, vb)
        if opname in ("add", "sub", "mul"):
            f = {"add": _add, "sub": _sub, "mul": _mul}[opname]
            r32 = f(*_r32(a), _r32(b), 32)
            r64 = f(*_r64(a), _r64(b), 64)
        else:
            r32 = _bitwise(opname, a[5], a[6], _r32(b), (vo[0] & M32, vo[1] & M32), 32)
            r64 = _bitwise(opname, a[1], a[2], _r64(b), vo, 64)
        r = (vo,) + r64 + r32
    else:
        s = b[1] & M32 if alu32 else b[1]
        if alu32:
            sub = (va[0] & M32, va[1] & M32)
            if opname == "lsh":
                u0, u1 = _lsh32(a[5], a[6], s)
                vo = tnum.lshift(sub, s, 32)
                r = (vo, 0, M64, S64_MIN, S64_MAX, u0, u1, S32_MIN, S32_MAX)
            elif opname == "rsh":
                vo = tnum.rshift(sub, s)
                r = (vo, 0, M64, S64_MIN, S64_MAX, a[5] >> s, a[6] >> s, S32_MIN, S32_MAX)
            else:
                vo = tnum.arshift(sub, s, 32)
                r = (vo, 0, M64, S64_MIN, S64_MAX, 0, M32, a[7] >> s, a[8] >> s)
            r = _update(*r)
        else:
            if opname == "lsh":
                smax = a[8] << 32 if s == 32 and a[8] >= 0 else S64_MAX
                smin = a[7] << 32 if s == 32 and a[7] >= 0 else S64_MIN
                if s < 64 and a[2] <= 1 << (63 - s):
                    umin, umax = a[1] << s, a[2] << s
                else:
                    umin, umax = 0, M64
                u0, u1 = _lsh32(a[5], a[6], s)
                r = (tnum.lshift(va, s, 64), umin, umax, smin, smax, u0, u1, S32_MIN, S32_MAX)
            elif opname == "rsh":
                r = (tnum.rshift(va, s), a[1] >> s, a[2] >> s, S64_MIN, S64_MAX, 0, M32, S32_MIN, S32_MAX)
            else:
                r = (tnum.arshift(va, s, 64), 0, M64, a[3] >> s, a[4] >> s, 0, M32, S32_MIN, S32_MAX)
            r = _update(*r)
    if alu32:
        r = zext32(r)
    return _sync_py(r)


def _lsh32(u0, u1, s):
    if s > 31 or u1 > 1 << (31 - s):
        return 0, M32
    return u0 << s, u1 << s


def _neg_py(a, alu32: bool = False):
    """BPF_NEG: 0 - a, with tnum_neg."""
    z = const(0)
    vo = tnum.sub((0, 0), a[0])
    r = (vo,) + _sub(*_r64(z), _r64(a), 64) + _sub(*_r32(z), _r32(a), 32)
    if alu32:
        r = zext32(r)
    return _sync_py(r)


def contains(outer, inner) -> bool:
    """Every value of ``inner`` is a value of ``outer`` (range_within + tnum_in)."""
    return (outer[1] <= inner[1] and inner[2] <= outer[2] and outer[3] <= inner[3]
            and inner[4] <= outer[4] and outer[5] <= inner[5] and inner[6] <= outer[6]
            and outer[7] <= inner[7] and inner[8] <= outer[8] and tnum.contains(outer[0], inner[0]))


# ------------------------------------------------------------------ fast path
# bounds.pyx (csrc/bounds.h) computes the same in C; this module stays the
# reference (tests/test_verifier_bounds_native.py compares them).  Inputs or
# results that do not fit 64 bits fall back to the Python version.
from dataplane.verifier import bounds as _native  # noqa: E402 (the extension is always built)

_n_sync, _n_alu, _n_neg, _n_valid = _native.sync, _native.alu, _native.neg, _native.valid

def sync(b):
    """reg_bounds_sync (see _sync_py)."""
    try:
        return _n_sync(b)
    except (OverflowError, ArithmeticError):
        return _sync_py(b)


def alu(opname: str, a, b, alu32: bool = False):
    """``a <op> b`` (see _alu_py)."""
    try:
        return _n_alu(opname, a, b, alu32)
    except (OverflowError, ArithmeticError):
        return _alu_py(opname, a, b, alu32)


def neg(a, alu32: bool = False):
    try:
        return _n_neg(a, alu32)
    except (OverflowError, ArithmeticError):
        return _neg_py(a, alu32)


def valid(b) -> bool:
    try:
        return _n_valid(b)
    except OverflowError:
        return _valid_py(b)
