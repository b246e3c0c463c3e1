"""State equivalence, native (the kernel's states_equal / func_states_equal
/ regsafe / stacksafe / refsafe / check_ids and states_maybe_looping): it
runs at every prune point against every kept checkpoint there.

Three levels, as the kernel's enum exact_level:
- NOT_EXACT: a finished checkpoint covers the current state if every live
  register and stack slot of the old one is at least as general; imprecise
  old scalars cover anything;
- RANGE_WITHIN: inside a loop whose precision marks are not final, scalars
  are compared by range whatever their marks, and uninitialised old
  registers only cover uninitialised ones;
- EXACT: infinite-loop detection, everything equal up to id renaming.
Ids must map one to one (the kernel's idmap, scanned in insertion order).
"""
from cpython.object cimport PyObject
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE

from dataplane.verifier.slots cimport getslot, slot_offset, slotptr
from dataplane.verifier.state import Frame, State
from dataplane.verifier import reg as _reg

NOT_EXACT_, EXACT_, RANGE_WITHIN_ = NOT_EXACT, EXACT, RANGE_WITHIN

cdef long NOT_INIT = _reg.NOT_INIT, SCALAR = _reg.SCALAR, PKT = _reg.PKT, PKT_META = _reg.PKT_META
cdef long STACK = _reg.STACK, MAP_VALUE = _reg.MAP_VALUE, MAP_VALUE_OR_NULL = _reg.MAP_VALUE_OR_NULL
cdef long MEM = _reg.MEM, MEM_OR_NULL = _reg.MEM_OR_NULL
cdef object UNBOUND = _reg.scalar_unknown()     # what a load from all-misc stack bytes gives (never precise)
cdef object INVALID = ("????????", None)

Reg = _reg.Reg
cdef Py_ssize_t R_T = slot_offset(Reg, "t"), R_OFF = slot_offset(Reg, "off"), R_VO = slot_offset(Reg, "vo")
cdef Py_ssize_t R_UMIN = slot_offset(Reg, "umin"), R_UMAX = slot_offset(Reg, "umax")
cdef Py_ssize_t R_SMIN = slot_offset(Reg, "smin"), R_SMAX = slot_offset(Reg, "smax")
cdef Py_ssize_t R_U32MIN = slot_offset(Reg, "u32min"), R_U32MAX = slot_offset(Reg, "u32max")
cdef Py_ssize_t R_S32MIN = slot_offset(Reg, "s32min"), R_S32MAX = slot_offset(Reg, "s32max")
cdef Py_ssize_t R_ID = slot_offset(Reg, "id"), R_REF = slot_offset(Reg, "ref"), R_RNG = slot_offset(Reg, "rng")
cdef Py_ssize_t R_MAP = slot_offset(Reg, "map"), R_MSIZE = slot_offset(Reg, "msize")
cdef Py_ssize_t R_FRAME = slot_offset(Reg, "frame"), R_RINGBUF = slot_offset(Reg, "ringbuf")
cdef Py_ssize_t R_BTF = slot_offset(Reg, "btf")
cdef Py_ssize_t F_REGS = slot_offset(Frame, "regs"), F_STACK = slot_offset(Frame, "stack")
cdef Py_ssize_t F_DEPTH = slot_offset(Frame, "depth"), F_PREC = slot_offset(Frame, "prec")
cdef Py_ssize_t F_SPREC = slot_offset(Frame, "sprec"), F_CALLSITE = slot_offset(Frame, "callsite")
cdef Py_ssize_t S_FRAMES = slot_offset(State, "frames"), S_REFS = slot_offset(State, "refs")
cdef Py_ssize_t S_LOCK = slot_offset(State, "active_lock"), S_INSN = slot_offset(State, "insn")
cdef Py_ssize_t S_RCU = slot_offset(State, "active_rcu")


cdef inline object g(object o, Py_ssize_t off):
    return <object>slotptr(o, off)


cdef inline long lg(object o, Py_ssize_t off):
    return <long><object>slotptr(o, off)


# ------------------------------------------------------------------ ids
cdef struct IdMap:
    int cnt
    long tmp
    long old[1200]
    long cur[1200]


cdef inline bint check_ids(long o, long c, IdMap *m):
    cdef int i
    if (o != 0) != (c != 0):
        return False
    if o == 0:
        return True
    for i in range(m.cnt):
        if m.old[i] == o:
            return m.cur[i] == c
        if m.cur[i] == c:
            return False
    if m.cnt >= 1200:
        return False
    m.old[m.cnt] = o
    m.cur[m.cnt] = c
    m.cnt += 1
    return True


cdef inline bint check_scalar_ids(long o, long c, IdMap *m):
    """check_ids where an id of 0 stands for a fresh unique id."""
    if o == 0 and c == 0:
        return True           # two fresh ids always pair
    if o == 0:
        m.tmp += 1
        o = m.tmp
    if c == 0:
        m.tmp += 1
        c = m.tmp
    return check_ids(o, c, m)


# ------------------------------------------------------------------ registers
cdef inline bint same_fields(object a, object b):
    """memcmp up to ``id``: everything but the ids and the frame number."""
    return (lg(a, R_T) == lg(b, R_T) and lg(a, R_OFF) == lg(b, R_OFF) and g(a, R_VO) == g(b, R_VO)
            and g(a, R_UMIN) == g(b, R_UMIN) and g(a, R_UMAX) == g(b, R_UMAX)
            and g(a, R_SMIN) == g(b, R_SMIN) and g(a, R_SMAX) == g(b, R_SMAX)
            and g(a, R_U32MIN) == g(b, R_U32MIN) and g(a, R_U32MAX) == g(b, R_U32MAX)
            and g(a, R_S32MIN) == g(b, R_S32MIN) and g(a, R_S32MAX) == g(b, R_S32MAX)
            and g(a, R_RNG) == g(b, R_RNG) and g(a, R_MAP) == g(b, R_MAP) and g(a, R_MSIZE) == g(b, R_MSIZE)
            and g(a, R_RINGBUF) == g(b, R_RINGBUF) and g(a, R_BTF) == g(b, R_BTF))


cdef inline bint regs_exact(object o, object c, IdMap *m):
    return same_fields(o, c) and check_ids(lg(o, R_ID), lg(c, R_ID), m) and check_ids(lg(o, R_REF), lg(c, R_REF), m)


cdef inline bint tnum_in(tuple ov, tuple cv):
    cdef unsigned long long ovv = ov[0], om = ov[1], cvv = cv[0], cm = cv[1]
    if cm & ~om:
        return False
    return (cvv & ~om) == ovv


cdef inline bint range_within(object o, object c):
    return (g(o, R_UMIN) <= g(c, R_UMIN) and g(c, R_UMAX) <= g(o, R_UMAX)
            and g(o, R_SMIN) <= g(c, R_SMIN) and g(c, R_SMAX) <= g(o, R_SMAX)
            and g(o, R_U32MIN) <= g(c, R_U32MIN) and g(c, R_U32MAX) <= g(o, R_U32MAX)
            and g(o, R_S32MIN) <= g(c, R_S32MIN) and g(c, R_S32MAX) <= g(o, R_S32MAX)
            and tnum_in(g(o, R_VO), g(c, R_VO)))


cdef bint regsafe(object o, object c, IdMap *m, int exact, bint precise) except -1:
    """Old state's register safe implies current one safe.  ``precise``: the
    old register is marked precise (scalars only)."""
    cdef long t, ct
    if exact == EXACT:
        return regs_exact(o, c, m)
    t, ct = lg(o, R_T), lg(c, R_T)
    if t == NOT_INIT and (exact == NOT_EXACT or ct == NOT_INIT):
        return True
    if ct != t:
        return False
    if t == SCALAR:
        if not precise and exact == NOT_EXACT:
            return True
        if o is c:
            return check_scalar_ids(lg(o, R_ID), lg(o, R_ID), m)
        return range_within(o, c) and check_scalar_ids(lg(o, R_ID), lg(c, R_ID), m)
    if o is c:      # shared by copy on write: only the ids must map consistently
        return check_ids(lg(o, R_ID), lg(o, R_ID), m) and check_ids(lg(o, R_REF), lg(o, R_REF), m)
    if t == MAP_VALUE or t == MAP_VALUE_OR_NULL or t == MEM or t == MEM_OR_NULL:
        return (lg(o, R_OFF) == lg(c, R_OFF) and g(o, R_MAP) == g(c, R_MAP) and g(o, R_MSIZE) == g(c, R_MSIZE)
                and g(o, R_RINGBUF) == g(c, R_RINGBUF) and g(o, R_BTF) == g(c, R_BTF)
                and g(o, R_RNG) == g(c, R_RNG) and range_within(o, c)
                and check_ids(lg(o, R_ID), lg(c, R_ID), m) and check_ids(lg(o, R_REF), lg(c, R_REF), m))
    if t == PKT or t == PKT_META:
        if lg(o, R_RNG) > lg(c, R_RNG) or lg(o, R_OFF) != lg(c, R_OFF):
            return False
        if not check_ids(lg(o, R_ID), lg(c, R_ID), m):
            return False
        return range_within(o, c)
    if t == STACK:
        return regs_exact(o, c, m) and lg(o, R_FRAME) == lg(c, R_FRAME)
    return regs_exact(o, c, m)


# ------------------------------------------------------------------ stack
cdef inline object scalar_for_slot(str types, object sp):
    """scalar_reg_for_stack: a 64-bit spilled scalar, the unbound scalar for
    all-misc bytes (uninitialised bytes read as misc for privileged
    programs), else None."""
    cdef Py_UCS4 ch
    if types[0] == u"r":
        return sp if sp is not None and lg(sp, R_T) == SCALAR else None
    for ch in types:
        if ch != u"m" and ch != u"?":
            return None
    return UNBOUND


cdef bint iter_safe(object o, object c, IdMap *m):
    """stacksafe's STACK_ITER case (at every level): same iterator type and
    state, references mapping one to one; the depth (``rng``) is left out,
    or an iterator loop could never converge (iters.py)."""
    if o is None or c is None:
        return o is c
    return (lg(o, R_T) == lg(c, R_T) and g(o, R_BTF) == g(c, R_BTF) and g(o, R_MSIZE) == g(c, R_MSIZE)
            and check_ids(lg(o, R_REF), lg(c, R_REF), m))


cdef bint slot_safe(str ot, object osp, str ctypes, object csp, IdMap *m, int exact, bint oprec,
                    bint in_cur) except -1:
    """stacksafe's byte walk over one slot (the kernel's loop body for i in
    [8*spi, 8*spi+8)).  ``in_cur``: the slot is inside the current frame's
    allocated stack."""
    cdef int i
    cdef Py_UCS4 o
    for i in range(8):
        o = ot[i]
        if exact != NOT_EXACT and (not in_cur or o != ctypes[i]):
            return False
        if o == u"?" or o == u"m":
            continue
        if not in_cur:
            return False
        oreg = scalar_for_slot(ot, osp)
        creg = scalar_for_slot(ctypes, csp) if oreg is not None else None
        if oreg is not None and creg is not None:
            return regsafe(oreg, creg, m, exact, oprec and oreg is osp)
        if o != ctypes[i]:
            return False
        if i != 7:
            continue
        if o == u"r":
            return regsafe(osp, csp, m, exact, oprec)
        if o == u"I":
            return iter_safe(osp, csp, m)
    return True



cdef bint stacksafe(object fo, object fc, IdMap *m, int exact) except -1:
    cdef dict ostack = g(fo, F_STACK), cstack = g(fc, F_STACK)
    cdef long cur_slots = (lg(fc, F_DEPTH) + 7) // 8, old_slots = (lg(fo, F_DEPTH) + 7) // 8
    cdef long spi
    cdef unsigned long long sprec
    if exact != NOT_EXACT and old_slots > cur_slots:
        return False
    sprec = g(fo, F_SPREC)
    for k, oslot in ostack.items():
        spi = k
        cslot = cstack.get(k, INVALID)
        ot, osp = <tuple>oslot
        if cslot is oslot and (osp is None or (lg(osp, R_ID) == 0 and lg(osp, R_REF) == 0)) and spi < cur_slots:
            continue    # slots are immutable and shared by copies: same slot, same facts
        if exact == NOT_EXACT and (ot == "????????" or ot == "mmmmmmmm"):
            continue
        if not slot_safe(ot, osp, (<tuple>cslot)[0], (<tuple>cslot)[1], m, exact, (sprec >> spi) & 1,
                         spi < cur_slots):
            return False
    if exact != NOT_EXACT:
        # bytes the current frame has and the old one does not: the kernel
        # walks the old stack, where they are invalid
        for k, cslot in cstack.items():
            spi = k
            if k not in ostack and spi < old_slots and (<tuple>cslot)[0] != "????????":
                return False
    return True


# ------------------------------------------------------------------ states
cdef bint refsafe(object old, object cur, IdMap *m) except -1:
    cdef dict orefs = g(old, S_REFS), crefs = g(cur, S_REFS)
    if len(orefs) != len(crefs):
        return False
    ol, cl = g(old, S_LOCK), g(cur, S_LOCK)
    if bool(ol) != bool(cl):
        return False
    if ol and (ol[0] != cl[0] or not check_ids(ol[1], cl[1], m)):
        return False
    for oid, cid in zip(orefs, crefs):
        if not check_ids(oid, cid, m):
            return False
    return True


cdef inline long call_pc(object f):
    cdef long cs = lg(f, F_CALLSITE)
    return -cs - 1 if cs < 0 else cs


cpdef bint states_equal(old, cur, list live_in, int exact) except -1:
    """``live_in[pc]``: registers live before pc (the kernel's
    live_regs_before), looked up at each frame's instruction."""
    cdef list ofr = g(old, S_FRAMES), cfr = g(cur, S_FRAMES), oregs, cregs
    cdef Py_ssize_t n = PyList_GET_SIZE(ofr), fi, i
    cdef long live
    cdef unsigned long long prec
    cdef IdMap m
    if n != PyList_GET_SIZE(cfr):
        return False
    m.cnt = 0
    m.tmp = 1 << 62
    if lg(old, S_RCU) != lg(cur, S_RCU):      # refsafe: active_rcu_lock
        return False
    if (g(old, S_REFS) or g(cur, S_REFS) or g(old, S_LOCK) or g(cur, S_LOCK)) and not refsafe(old, cur, &m):
        return False
    for fi in range(n):
        fo, fc = <object>PyList_GET_ITEM(ofr, fi), <object>PyList_GET_ITEM(cfr, fi)
        if lg(fo, F_CALLSITE) != lg(fc, F_CALLSITE):
            return False
        live = live_in[lg(old, S_INSN) if fi == n - 1 else call_pc(<object>PyList_GET_ITEM(ofr, fi + 1))]
        prec = g(fo, F_PREC)
        oregs, cregs = g(fo, F_REGS), g(fc, F_REGS)
        for i in range(11):
            if (live >> i) & 1 and not regsafe(<object>PyList_GET_ITEM(oregs, i), <object>PyList_GET_ITEM(cregs, i),
                                               &m, exact, (prec >> i) & 1):
                return False
        if (g(fo, F_STACK) or (exact != NOT_EXACT and g(fc, F_STACK))) and not stacksafe(fo, fc, &m, exact):
            return False
    return True


cpdef bint maybe_looping(old, cur) except -1:
    """states_maybe_looping: the innermost frames' registers are the same,
    ids included (a memcmp in the kernel)."""
    cdef list ofr = g(old, S_FRAMES), cfr = g(cur, S_FRAMES), oregs, cregs
    cdef Py_ssize_t n = PyList_GET_SIZE(ofr), i
    if n != PyList_GET_SIZE(cfr):
        return False
    oregs = g(<object>PyList_GET_ITEM(ofr, n - 1), F_REGS)
    cregs = g(<object>PyList_GET_ITEM(cfr, n - 1), F_REGS)
    for i in range(11):
        a, b = <object>PyList_GET_ITEM(oregs, i), <object>PyList_GET_ITEM(cregs, i)
        if a is not b and not (same_fields(a, b) and lg(a, R_ID) == lg(b, R_ID) and lg(a, R_REF) == lg(b, R_REF)):
            return False
    return True
