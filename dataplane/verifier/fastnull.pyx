"""``if rX == 0 / != 0 goto`` on a map lookup's result on the native main
loop (fastloop.pyx): the NULL check after every bpf_map_lookup_elem.  It
does what BranchMixin.check_cond_jmp and _mark_null do for a 64-bit compare
of a map_value_or_null register with the immediate 0: both branches, the
NULL one with every register and spilled register of that id a known zero,
the other with them map values.  Anything else (a reference-counted object,
a map-in-map's inner map, other maybe-NULL types, JMP32, a register
operand) returns -1 and goes to branch.py, which has the one set of rules;
tests/test_verifier_fastnull.py compares both loops and the kernel.
"""
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE

from dataplane.verifier.bounds cimport vb
from dataplane.verifier.fastmem cimport copy_reg, lt, new_scalar, put, set_vb, top_regs
from dataplane.verifier.slots cimport getslot, setslot, slot_offset

from dataplane.isa import opcodes as op
from dataplane.verifier import reg as _reg
from dataplane.verifier import scalar
from dataplane.verifier.reg import Reg
from dataplane.verifier.state import Frame, State

cdef long MAP_VALUE = _reg.MAP_VALUE, MAP_VALUE_OR_NULL = _reg.MAP_VALUE_OR_NULL
cdef unsigned char IS_OR_NULL[64]       # the maybe-NULL pointer types (reg.OR_NULL), by type number
for _t in _reg.OR_NULL:
    IS_OR_NULL[_t] = 1
cdef int JEQ = op.BPF_JEQ, JNE = op.BPF_JNE
cdef Py_ssize_t R_T = slot_offset(Reg, "t"), R_ID = slot_offset(Reg, "id"), R_REF = slot_offset(Reg, "ref")
cdef Py_ssize_t R_MAP = slot_offset(Reg, "map")
cdef Py_ssize_t F_REGS = slot_offset(Frame, "regs"), F_STACK = slot_offset(Frame, "stack")
cdef Py_ssize_t S_FRAMES = slot_offset(State, "frames")
cdef object ZERO = 0
cdef object MAP_VALUE_OBJ = MAP_VALUE

cdef vb NULL_VB
set_vb(&NULL_VB, scalar.const(0))       # what the NULL branch makes of the pointer (scalar_const(0))


cdef inline bint same_id(object x, object rid):
    """_mark_null's test: a maybe-NULL pointer of this id."""
    cdef long t = lt(x)
    return 0 <= t < 64 and IS_OR_NULL[t] and getslot(x, R_ID) == rid


cdef bint plain(object x, dict maps) except -1:
    """A map value that _mark_null turns into a map value and nothing else:
    no reference to release, no inner map (map_value_not_null)."""
    if lt(x) != MAP_VALUE_OR_NULL or getslot(x, R_REF):
        return False
    m = maps.get(getslot(x, R_MAP))
    return m is None or m.inner is None


cdef object conv(object x, bint is_null):
    if is_null:
        return new_scalar(&NULL_VB, ZERO)
    y = copy_reg(x)
    setslot(y, R_T, MAP_VALUE_OBJ)
    return y


cdef void mark_null(st, object rid, bint is_null) except *:
    """BranchMixin._mark_null for plain map values (checked by null_cond)."""
    cdef list regs
    cdef dict stack
    cdef Py_ssize_t i
    frames = <list>getslot(st, S_FRAMES)
    for f in frames:
        regs = <list>getslot(f, F_REGS)
        for i in range(PyList_GET_SIZE(regs)):
            x = <object>PyList_GET_ITEM(regs, i)
            if same_id(x, rid):
                put(regs, i, conv(x, is_null))
    for f in frames:          # update_spills: the slots are shared pairs, replaced
        stack = <dict>getslot(f, F_STACK)
        if not stack:
            continue
        for spi, slot in list(stack.items()):
            sp = (<tuple>slot)[1]
            if sp is not None and same_id(sp, rid):
                stack[spi] = ((<tuple>slot)[0], conv(sp, is_null))


cdef int null_cond(v, st, int pc, int dst, int jop, int target) except -2:
    """check_cond_jmp of ``if r<dst> <jop> 0 goto target`` (64-bit, JEQ or
    JNE) when r<dst> is a map value or NULL: the next pc, or -1 (not this
    case: branch.py's)."""
    cdef list regs = top_regs(st)
    cdef dict stack
    cdef dict maps
    d = <object>PyList_GET_ITEM(regs, dst)
    if lt(d) != MAP_VALUE_OR_NULL or (jop != JEQ and jop != JNE):
        return -1
    maps = v.maps
    rid = getslot(d, R_ID)
    frames = <list>getslot(st, S_FRAMES)
    for f in frames:          # every copy of the pointer must be a plain map value
        for x in <list>getslot(f, F_REGS):
            if same_id(x, rid) and not plain(x, maps):
                return -1
        stack = <dict>getslot(f, F_STACK)
        for slot in stack.values():
            sp = (<tuple>slot)[1]
            if sp is not None and same_id(sp, rid) and not plain(sp, maps):
                return -1
    v.jmps_processed += 1
    # (no linked scalars, no stack pointers: nothing for the jump history)
    other = st.copy()
    # JEQ: the taken branch is the NULL one; JNE: the fallthrough
    mark_null(other, rid, jop == JEQ)
    mark_null(st, rid, jop == JNE)
    v.push_branch(other, target, pc)
    return pc + 1
