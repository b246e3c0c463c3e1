"""Native fast path of the verifier's scalar range arithmetic.

Same functions, same tuples in and out, as dataplane.verifier.scalar (which
is the reference and uses these when this module is built): a bounds tuple
is ``((value, mask), umin, umax, smin, smax, u32min, u32max, s32min,
s32max)``.  A tuple whose values do not fit the C fields raises
OverflowError and a step whose exact result would not fit raises
ArithmeticError: scalar.py then runs the Python version.
"""
from dataplane.verifier.bounds cimport (VB_ADD, VB_AND, VB_ARSH, VB_LSH, VB_MUL, VB_OR, VB_PYTHON,
                                        VB_RSH, VB_SUB, VB_XOR, vb, vb_alu, vb_branch_taken, vb_neg,
                                        vb_refine, vb_sync, vb_update, vb_valid, vb_zext32)

_OPS = {"add": VB_ADD, "sub": VB_SUB, "mul": VB_MUL, "and": VB_AND, "or": VB_OR, "xor": VB_XOR,
        "lsh": VB_LSH, "rsh": VB_RSH, "arsh": VB_ARSH}


cdef int unpack(tuple t, vb *b) except -1:
    vo = <tuple>t[0]
    b.v = vo[0]
    b.m = vo[1]
    b.umin = t[1]
    b.umax = t[2]
    b.smin = t[3]
    b.smax = t[4]
    b.u32min = t[5]
    b.u32max = t[6]
    b.s32min = t[7]
    b.s32max = t[8]
    return 0


cdef tuple pack(const vb *b):
    return ((b.v, b.m), b.umin, b.umax, b.smin, b.smax, b.u32min, b.u32max, b.s32min, b.s32max)


def sync(tuple t):
    cdef vb b
    unpack(t, &b)
    vb_sync(&b)
    return pack(&b)


def update(tuple t):
    cdef vb b
    unpack(t, &b)
    vb_update(&b)
    return pack(&b)


def zext32(tuple t):
    cdef vb b
    unpack(t, &b)
    vb_zext32(&b)
    return pack(&b)


def valid(tuple t):
    cdef vb b
    unpack(t, &b)
    return bool(vb_valid(&b))


def alu(str opname, tuple a, tuple b, bint alu32=False):
    cdef vb x, y, out
    cdef int op = _OPS[opname]
    unpack(a, &x)
    unpack(b, &y)
    if vb_alu(op, &x, &y, alu32, &out) == VB_PYTHON:
        raise ArithmeticError(opname)
    return pack(&out)


def neg(tuple a, bint alu32=False):
    cdef vb x, out
    unpack(a, &x)
    vb_neg(&x, alu32, &out)
    return pack(&out)


def branch_taken(int o, tuple a, tuple b, bint is32, bint same=False):
    cdef vb x, y
    unpack(a, &x)
    unpack(b, &y)
    return vb_branch_taken(o, &x, &y, is32, same)


def refine(int o, tuple a, tuple b, bint is32):
    cdef vb x, y, ox, oy
    unpack(a, &x)
    unpack(b, &y)
    if vb_refine(o, &x, &y, is32, &ox, &oy) == VB_PYTHON:
        raise ArithmeticError("refine")
    return pack(&ox), pack(&oy)
