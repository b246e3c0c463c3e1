"""``if pkt <op> pkt_end goto`` on the native main loop (fastloop.pyx): the
bounds check every packet parser is made of, and the loop test of a loop
walking a packet.  It does what BranchMixin.check_cond_jmp does for a
64-bit register compare of a packet pointer with pkt_end (either order):
the prediction from a pointer known to be at / beyond pkt_end
(_pkt_branch_taken), else both branches, with the range learnt on the
side where the access is safe (_find_good_pkt_pointers) and the at / beyond
pkt_end mark on the other (_pkt_compare).  Everything else (pkt_meta,
JMP32, immediates, other pointer types) returns -1 and goes to branch.py,
which has the one set of rules; tests/test_verifier_fastloop.py compares
both loops.
"""
from libc.stdint cimport int64_t
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE

from dataplane.verifier.fastmem cimport copy_reg, lt, put, top_regs
from dataplane.verifier.slots cimport getslot, setslot, slot_offset

from dataplane.isa import opcodes as op
from dataplane.verifier import branch as _branch
from dataplane.verifier import reg as _reg
from dataplane.verifier.reg import Reg
from dataplane.verifier.state import Frame, State

cdef long PKT = _reg.PKT, PKT_END = _reg.PKT_END
cdef int JGT = op.BPF_JGT, JLT = op.BPF_JLT, JGE = op.BPF_JGE, JLE = op.BPF_JLE
cdef int64_t AT_PKT_END = _branch.AT_PKT_END, BEYOND_PKT_END = _branch.BEYOND_PKT_END
cdef int64_t MAX_PACKET_OFF = _branch.MAX_PACKET_OFF
cdef Py_ssize_t R_T = slot_offset(Reg, "t"), R_OFF = slot_offset(Reg, "off"), R_UMAX = slot_offset(Reg, "umax")
cdef Py_ssize_t R_ID = slot_offset(Reg, "id"), R_RNG = slot_offset(Reg, "rng")
cdef Py_ssize_t F_REGS = slot_offset(Frame, "regs"), F_STACK = slot_offset(Frame, "stack")
cdef Py_ssize_t S_FRAMES = slot_offset(State, "frames")


cdef inline bint widen(object x, object rid, int64_t new_range) except -1:
    """_find_good_pkt_pointers' upd: a packet pointer of this id whose range grows."""
    return lt(x) == PKT and getslot(x, R_ID) == rid and <int64_t>getslot(x, R_RNG) < new_range


cdef object widened(object x, int64_t new_range):
    y = copy_reg(x)
    setslot(y, R_RNG, new_range)
    return y


cdef void good_pkt_pointers(st, dreg, bint right_open) except *:
    """BranchMixin._find_good_pkt_pointers for a PKT register: every packet
    pointer with dreg's id, in every frame and spill slot, learns the range."""
    cdef int64_t off = getslot(dreg, R_OFF), new_range
    cdef list regs
    cdef dict stack
    cdef Py_ssize_t i
    if off < 0 or (off == 0 and right_open):
        return
    umax = getslot(dreg, R_UMAX)
    if umax > MAX_PACKET_OFF or umax + off > MAX_PACKET_OFF:
        return
    new_range = off + (1 if right_open else 0)
    rid = getslot(dreg, R_ID)
    frames = <list>getslot(st, S_FRAMES)
    for f in frames:
        regs = <list>getslot(f, F_REGS)
        for i in range(PyList_GET_SIZE(regs)):
            x = <object>PyList_GET_ITEM(regs, i)
            if widen(x, rid, new_range):
                put(regs, i, widened(x, new_range))
    for f in frames:          # update_spills: the slots are shared pairs, replaced
        stack = <dict>getslot(f, F_STACK)
        if not stack:
            continue
        for spi, slot in list(stack.items()):
            sp = (<tuple>slot)[1]
            if sp is not None and widen(sp, rid, new_range):
                stack[spi] = ((<tuple>slot)[0], widened(sp, new_range))


cdef int pkt_cond(v, st, int pc, int dst, int src, int jop, int target) except -2:
    """check_cond_jmp of ``if r<dst> <jop> r<src> goto target`` (64-bit) when
    one side is a packet pointer and the other pkt_end: the next pc, or -1
    (not this case: branch.py's)."""
    cdef list regs = top_regs(st)
    cdef bint fwd, right_open
    cdef int o = jop, regno
    cdef int64_t rng
    d = <object>PyList_GET_ITEM(regs, dst)
    s = <object>PyList_GET_ITEM(regs, src)
    cdef long td = lt(d), ts = lt(s)
    if td == PKT and ts == PKT_END:
        fwd, pkt = True, d
    elif td == PKT_END and ts == PKT:
        fwd, pkt = False, s
        o = JLT if jop == JGT else JGT if jop == JLT else JLE if jop == JGE else JGE if jop == JLE else jop
    else:
        return -1
    v.jmps_processed += 1
    rng = getslot(pkt, R_RNG)
    if rng < 0:               # _pkt_branch_taken: at / beyond pkt_end decides it
        if (o == JGT or o == JLE) and rng == BEYOND_PKT_END:
            return target if o == JGT else pc + 1
        if o == JGE or o == JLT:
            return target if o == JGE else pc + 1
    # (no linked scalars, no stack pointers: nothing for the jump history)
    other = st.copy()
    # _pkt_compare: (branch state, register learning a range, right-open?);
    # in the original operand order, as branch.py
    if jop == JGT:
        ost, regno, right_open = (st, dst, False) if fwd else (other, src, True)
    elif jop == JLT:
        ost, regno, right_open = (other, dst, True) if fwd else (st, src, False)
    elif jop == JGE:
        ost, regno, right_open = (st, dst, True) if fwd else (other, src, False)
    elif jop == JLE:
        ost, regno, right_open = (other, dst, False) if fwd else (st, src, True)
    else:
        v.push_branch(other, target, pc)
        return pc + 1
    good_pkt_pointers(ost, <object>PyList_GET_ITEM(top_regs(ost), regno), right_open)
    # mark_pkt_end on the opposite branch
    xst = other if ost is st else st
    xregs = top_regs(xst)
    r = <object>PyList_GET_ITEM(xregs, regno)
    if lt(r) == PKT:
        r = copy_reg(r)
        setslot(r, R_RNG, AT_PKT_END if right_open else BEYOND_PKT_END)
        put(xregs, regno, r)
    v.push_branch(other, target, pc)
    return pc + 1
