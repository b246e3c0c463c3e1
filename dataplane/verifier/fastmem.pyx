"""Loads and stores on the native main loop (fastloop.pyx): the accesses
typical programs are made of -- constant-offset stack spills, fills and
byte writes, packet, map value and memory (dynptr slice, ringbuf record)
reads and writes -- checked and applied without entering Python; and the
pointer values they go through (map fd loads, constant pointer offsets).

Only the success path lives here.  Whenever a check could fail, or the
access needs what this code does not model (variable stack offsets, dynptr
slots, spin locks, sign-extending loads, ctx and kernel objects, values
that do not fit 64 bits), it returns -1 before touching any state and the
instruction goes to MemMixin (mem.py), which has the one set of rules and
raises the errors with their texts.  What it does is exactly what
check_load / check_store do on success, side effects included (stack
liveness, jump history, precision, stack depth, InsnAux, max_pkt_offset);
tests/test_verifier_fastloop.py compares both loops on the clang corpus.
"""
from libc.stdint cimport int64_t, uint64_t
from cpython.list cimport PyList_GET_ITEM, PyList_SET_ITEM
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_DECREF

from dataplane.verifier.bounds cimport vb
from dataplane.verifier.hist cimport Hist
from dataplane.verifier.liveness cimport StackLiveness
from dataplane.verifier.slots cimport getslot, setslot, slot_offset, slotptr

from dataplane.verifier import scalar
from dataplane.verifier.backtrack import SPI_SHIFT_, STACK_ACCESS_
from dataplane.verifier import reg as _reg
from dataplane.verifier.reg import Reg
from dataplane.verifier.state import INVALID_SLOT, MAX_BPF_STACK, Frame, State

cdef long SCALAR = _reg.SCALAR, NOT_INIT = _reg.NOT_INIT, STACK = _reg.STACK, PKT = _reg.PKT
cdef long PKT_META = _reg.PKT_META, MAP_VALUE = _reg.MAP_VALUE, MEM = _reg.MEM
cdef long CTX = _reg.CTX, BTF = _reg.BTF, FUNC = _reg.FUNC, MAP_PTR = _reg.MAP_PTR
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
cdef Py_ssize_t F_FRAMENO = slot_offset(Frame, "frameno"), F_SUBPROG = slot_offset(Frame, "subprog")
cdef Py_ssize_t F_DEPTH = slot_offset(Frame, "depth")
cdef Py_ssize_t S_FRAMES = slot_offset(State, "frames"), S_HIST = slot_offset(State, "hist")
cdef Py_ssize_t REG_SLOTS[19]
for _i, _n in enumerate(Reg.__slots__):
    REG_SLOTS[_i] = slot_offset(Reg, _n)

cdef object ZERO = 0, FALSE = False, EMPTY = ""
cdef tuple ZERO2 = (0, 0)
cdef int64_t S64_MIN = scalar.S64_MIN
cdef tuple INVALID = INVALID_SLOT
cdef object RDONLY = _reg.MEM_DYNPTR_RO, RDONLY_INT = _reg.MEM_RDONLY, MAP_KEY = _reg.MEM_MAP_KEY
cdef long STACK_ACCESS = STACK_ACCESS_, SPI_SHIFT = SPI_SHIFT_
cdef int64_t MAX_STACK = MAX_BPF_STACK
cdef uint64_t MAX_VAR_OFF = 1 << 29          # mem.py BPF_MAX_VAR_OFF
cdef vb SIZED[9]                             # mem._sized_unknown(size) for 1, 2, 4, 8
cdef vb CONST0


cdef void set_vb(vb *b, tuple t) except *:
    """A scalar.py bounds tuple into ``b``."""
    vo = t[0]
    b.v, b.m = vo[0], vo[1]
    b.umin, b.umax, b.smin, b.smax = t[1], t[2], t[3], t[4]
    b.u32min, b.u32max, b.s32min, b.s32max = t[5], t[6], t[7], t[8]


for _size in (1, 2, 4):
    _m = (1 << (8 * _size)) - 1
    set_vb(&SIZED[_size], scalar.from64((0, _m), 0, _m, 0, _m))
set_vb(&SIZED[8], scalar.UNKNOWN)
set_vb(&CONST0, scalar.const(0))


# ---------------------------------------------------------------- registers
cdef object new_scalar(vb *b, object rid):
    """reg.scalar_from(bounds) with ``id`` set, built slot by slot."""
    r = Reg.__new__(Reg)
    setslot(r, R_T, <object>SCALAR)
    setslot(r, R_OFF, ZERO)
    setslot(r, R_VO, (b.v, b.m))
    setslot(r, R_UMIN, b.umin)
    setslot(r, R_UMAX, b.umax)
    setslot(r, R_SMIN, b.smin)
    setslot(r, R_SMAX, b.smax)
    setslot(r, R_U32MIN, b.u32min)
    setslot(r, R_U32MAX, b.u32max)
    setslot(r, R_S32MIN, b.s32min)
    setslot(r, R_S32MAX, b.s32max)
    setslot(r, R_ID, rid)
    setslot(r, R_REF, ZERO)
    setslot(r, R_RNG, ZERO)
    setslot(r, R_MAP, None)
    setslot(r, R_MSIZE, ZERO)
    setslot(r, R_FRAME, ZERO)
    setslot(r, R_RINGBUF, FALSE)
    setslot(r, R_BTF, EMPTY)
    return r


cdef object copy_reg(object r):
    """Reg.copy(), slot by slot."""
    c = Reg.__new__(Reg)
    cdef int i
    for i in range(19):
        setslot(c, REG_SLOTS[i], getslot(r, REG_SLOTS[i]))
    return c


cdef long lt(object r):
    return <long><object>slotptr(r, R_T)


cdef list top_regs(object st):
    frames = <list>getslot(st, S_FRAMES)
    return <list>getslot(<object>PyList_GET_ITEM(frames, len(frames) - 1), F_REGS)


cdef void put(list regs, int i, object r):
    """regs[i] = r (a list of exactly 11)."""
    cdef PyObject *old = PyList_GET_ITEM(regs, i)
    Py_INCREF(r)
    PyList_SET_ITEM(regs, i, r)
    Py_DECREF(<object>old)


cdef void push_hist(v, st, int pc, long flags) except *:
    """ExploreMixin.push_hist without a linked set."""
    cdef Hist ent
    e = v.cur_hist
    if e is not None:
        ent = <Hist>e
        ent.flags |= flags
        return
    ent = Hist.__new__(Hist)
    ent.idx, ent.prev, ent.flags, ent.linked = pc, v.prev_pc, flags, None
    (<list>getslot(st, S_HIST)).append(ent)
    v.cur_hist = ent


cdef inline object type_str(object r, long t):
    """Reg.type_str() for the pointer types handled here."""
    if t == STACK:
        return "fp"
    if t == PKT:
        return "pkt"
    if t == PKT_META:
        return "pkt_meta"
    if t == MAP_VALUE:
        return "map_value"
    if getslot(r, R_RINGBUF):
        return "ringbuf_mem"
    if getslot(r, R_BTF) == RDONLY or getslot(r, R_BTF) == RDONLY_INT:
        return "rdonly_mem"
    return "mem"


# ---------------------------------------------------------------- regions
cdef inline bint fixed_ok(int64_t off, int size, int64_t mem_size):
    return off >= 0 and size > 0 and off + size <= mem_size


cdef bint region_ok(object r, int64_t off, int size, int64_t mem_size) except -1:
    """_check_region succeeds (the conservative side: a negative smin goes to Python)."""
    cdef int64_t smin = getslot(r, R_SMIN)
    cdef uint64_t umax = getslot(r, R_UMAX)
    if smin < 0 or umax >= MAX_VAR_OFF:
        return False
    return fixed_ok(smin + off, size, mem_size) and fixed_ok(<int64_t>umax + off, size, mem_size)


cdef bint access_ok(v, object r, long t, int off, int size, bint write) except -1:
    """check_mem_access on packet, map value and memory pointers succeeds;
    records pkt_write / max_pkt_offset as it does (on success only)."""
    cdef int64_t roff = getslot(r, R_OFF)
    cdef int64_t o = off + roff, smin, lk, rng
    cdef uint64_t umax
    if t == PKT or t == PKT_META:
        if write and v.prog_type == "socket":
            return False
        smin = getslot(r, R_SMIN)
        rng = getslot(r, R_RNG)
        if smin < 0 or rng < 0 or not fixed_ok(o, size, rng):
            return False
        x = o + getslot(r, R_UMAX) + size - 1
        if x > v.max_pkt_offset:
            v.max_pkt_offset = x
        return True
    if t == MAP_VALUE:
        m = v.maps.get(getslot(r, R_MAP))
        if m is None or not region_ok(r, o, size, m.value_size):
            return False
        lk = m.spin_lock_off
        if lk >= 0:
            smin = getslot(r, R_SMIN)
            umax = getslot(r, R_UMAX)
            if smin + o < lk + 4 and lk < <int64_t>umax + o + size:
                return False
        return True
    if t == MEM:
        if getslot(r, R_BTF) == MAP_KEY:
            return False      # a map key: mem.py (its own messages)
        if write and (getslot(r, R_BTF) == RDONLY or getslot(r, R_BTF) == RDONLY_INT):
            return False
        return region_ok(r, o, size, getslot(r, R_MSIZE))
    return False


# ---------------------------------------------------------------- stack
cdef int stack_slot(object r, int off, int size, int64_t *at) except -2:
    """The constant stack offset of an access (-1: not one handled here)."""
    vo = <tuple>getslot(r, R_VO)
    if vo[1] != 0:
        return -1
    cdef uint64_t val = vo[0]
    cdef int64_t o = <int64_t>val + <int64_t>getslot(r, R_OFF) + off
    if o % size or o < -MAX_STACK or o + size > 0:
        return -1
    at[0] = o
    return <int>((-o - 1) // 8)


cdef void grow(v, frame, int64_t depth) except *:
    """MemMixin._grow."""
    if depth > <int64_t>getslot(frame, F_DEPTH):
        setslot(frame, F_DEPTH, depth)
    sd = <list>v.stack_depth
    sp = getslot(frame, F_SUBPROG)
    if depth > <int64_t>sd[sp]:
        sd[sp] = depth


cdef bint is_dynptr(str types):
    """A dynptr's or an iterator's slot (their writes are Python's)."""
    c = types[0]
    return c == "D" or c == "d" or c == "I"


cdef object stack_read(v, st, int pc, object r, int off, int size):
    """_stack_access for a read at a constant offset: the value, or None."""
    cdef int64_t o
    cdef int spi = stack_slot(r, off, size, &o)
    cdef int lo, hi, i
    cdef bint filled = False
    if spi < 0:
        return None
    fno = getslot(r, R_FRAME)
    frame = (<list>getslot(st, S_FRAMES))[fno]
    types, sp = (<dict>getslot(frame, F_STACK)).get(spi, INVALID)
    lo = (-(o + size - 1) - 1) % 8
    hi = (-o - 1) % 8
    bytes_ = (<str>types)[lo:hi + 1]
    if sp is not None and "r" in bytes_:
        if lt(sp) != SCALAR:
            if size != 8:
                return None
            filled = True
            val = copy_reg(sp)
        elif o % 8 == 0 and bytes_ == "r" * size and (<str>types).count("r") == size:
            filled = True
            val = copy_reg(sp)
        elif o % 8 == 0 and bytes_ == "r" * size and sp.is_const():
            return None           # a narrow fill of a constant: mem.py's _stack_read keeps it, truncated
        else:
            val = new_scalar(&SIZED[size], ZERO)
    else:
        for c in bytes_:
            if c == "D" or c == "d" or c == "I" or (c == "?" and not v.allow_uninit_stack):
                return None
        val = new_scalar(&CONST0 if bytes_ == "0" * size else &SIZED[size], ZERO)
    grow(v, frame, -o)
    (<StackLiveness>v.live).mark_read(st, fno, pc, (<uint64_t>1) << spi)
    if filled:
        push_hist(v, st, pc, STACK_ACCESS | (spi << SPI_SHIFT) | <long>getslot(frame, F_FRAMENO))
    return val


cdef bint stack_write(v, st, int pc, object r, int off, int size, object value, int src) except -1:
    """_stack_access for a write at a constant offset (False: not handled)."""
    cdef int64_t o
    cdef int spi = stack_slot(r, off, size, &o)
    cdef int lo, hi
    cdef long vt = lt(value)
    cdef uint64_t umax
    if spi < 0:
        return False
    fno = getslot(r, R_FRAME)
    frame = (<list>getslot(st, S_FRAMES))[fno]
    stack = <dict>getslot(frame, F_STACK)
    types, sp = stack.get(spi, INVALID)
    if is_dynptr(types):
        return False          # dynptr.destroy: Python
    if vt != SCALAR and size != 8:
        return False          # "invalid size of register spill"
    grow(v, frame, -o)
    live = <StackLiveness>v.live
    if o % 8 == 0 and size == 8:
        live.mark_write(fno, (<uint64_t>1) << spi)
    spill = o % 8 == 0 and size == 8
    if o % 8 == 0 and not spill and vt == SCALAR:
        umax = getslot(value, R_UMAX)
        spill = umax < ((<uint64_t>1) << (8 * size))
    if spill:
        keep = (<str>types)[:8 - size].replace("r", "m")
        stack[spi] = (keep + "r" * size, copy_reg(value))
        push_hist(v, st, pc, STACK_ACCESS | (spi << SPI_SHIFT) | <long>getslot(frame, F_FRAMENO))
        return True
    vo = <tuple>getslot(value, R_VO)
    null = vt == SCALAR and vo[0] == 0 and vo[1] == 0
    fill = "0" if null else "m"
    lo = (-(o + size - 1) - 1) % 8
    hi = (-o - 1) % 8
    if "r" in types:
        types = (<str>types).replace("r", "m")
    stack[spi] = ((<str>types)[:lo] + fill * (hi - lo + 1) + (<str>types)[hi + 1:], None)
    if null and src >= 0:
        # STACK_ZERO bytes stand for the register's value: it must be exact
        v.mark_precise(st, src)
    return True


# ---------------------------------------------------------------- entry points
cdef int mem_load(v, st, int pc, int dst, int src, int off, int size) except -2:
    """check_load (BPF_MEM) of ``dst = *(size *)(src + off)``: pc + 1, or -1."""
    if dst == 10:
        return -1
    cdef list regs = top_regs(st)
    r = <object>PyList_GET_ITEM(regs, src)
    cdef long t = lt(r)
    if t == NOT_INIT:
        return -1
    kinds = v.aux[pc].mem_kinds
    if "ctx" in kinds:
        return -1             # _same_ptr_type fails: Python says so
    try:
        if t == STACK:
            val = stack_read(v, st, pc, r, off, size)
            if val is None:
                return -1
        elif access_ok(v, r, t, off, size, False):
            val = new_scalar(&SIZED[size], ZERO)
        else:
            return -1
    except OverflowError:
        return -1
    kinds.add(type_str(r, t))
    put(regs, dst, val)
    return pc + 1


cdef int mem_store(v, st, int pc, int dst, int src, int off, int size, vb *k) except -2:
    """check_store (BPF_MEM) of ``*(size *)(dst + off) = src`` (or the
    constant ``k`` when src < 0, a BPF_ST): pc + 1, or -1."""
    cdef list regs = top_regs(st)
    r = <object>PyList_GET_ITEM(regs, dst)
    cdef long t = lt(r)
    if t == NOT_INIT:
        return -1
    if src >= 0:
        value = <object>PyList_GET_ITEM(regs, src)
        if lt(value) == NOT_INIT:
            return -1
    else:
        value = new_scalar(k, ZERO)
    aux = v.aux[pc]
    kinds = aux.mem_kinds
    if "ctx" in kinds:
        return -1
    live = <StackLiveness>v.live
    try:
        if t == STACK:
            live.reset_write(st, pc)
            v.store_src = src
            if not stack_write(v, st, pc, r, off, size, value, src):
                return -1     # nothing written: step() resets the marks again
            live.commit()
        elif access_ok(v, r, t, off, size, True):
            v.store_src = src
            live.reset_write(st, pc)
            live.commit()
            if t == PKT or t == PKT_META:
                aux.pkt_write = True
        else:
            return -1
    except OverflowError:
        return -1
    kinds.add(type_str(r, t))
    return pc + 1


# ---------------------------------------------------------------- pointer constants
cdef object new_reg(long t):
    """Reg(t): every other slot at its default."""
    r = Reg.__new__(Reg)
    setslot(r, R_T, <object>t)
    setslot(r, R_OFF, ZERO)
    setslot(r, R_VO, ZERO2)
    for off in (R_UMIN, R_UMAX, R_SMIN, R_SMAX, R_U32MIN, R_U32MAX, R_S32MIN, R_S32MAX, R_ID, R_REF, R_RNG,
                R_MSIZE, R_FRAME):
        setslot(r, off, ZERO)
    setslot(r, R_MAP, None)
    setslot(r, R_RINGBUF, FALSE)
    setslot(r, R_BTF, EMPTY)
    return r


cdef int ld_map_fd(v, st, int pc, int dst, int fd) except -2:
    """check_lddw of a map fd (BPF_PSEUDO_MAP_FD/IDX; _check_lddw has
    checked the map exists): ``dst = map_ptr``, pc + 2, or -1."""
    if dst == 10:
        return -1
    r = new_reg(MAP_PTR)
    setslot(r, R_MAP, <object>fd)
    put(top_regs(st), dst, r)
    return pc + 2


cdef int ptr_const(v, st, int pc, int dst, bint sub, int64_t imm) except -2:
    """check_alu of ``dst += imm`` / ``dst -= imm`` on a pointer (64-bit):
    _ptr_alu with a known offset that stays in the fixed part; pc + 1, or -1
    (anything else, and every refusal, is _ptr_alu's)."""
    cdef list regs = top_regs(st)
    d = <object>PyList_GET_ITEM(regs, dst)
    cdef long t = lt(d)
    cdef int64_t off, noff, smin
    if not (t == CTX or t == MAP_VALUE or t == STACK or t == PKT or t == PKT_META or t == MEM or t == BTF
            or t == FUNC):
        return -1
    if dst == 10 or not (-<int64_t>MAX_VAR_OFF < imm < <int64_t>MAX_VAR_OFF) or (sub and t == STACK):
        return -1
    try:
        off = getslot(d, R_OFF)
        smin = getslot(d, R_SMIN)
    except OverflowError:
        return -1
    noff = off - imm if sub else off + imm
    if not (-<int64_t>MAX_VAR_OFF < noff < <int64_t>MAX_VAR_OFF):
        return -1             # _sane_offset of the result (the 32-bit check is implied)
    if smin == S64_MIN or not (-<int64_t>MAX_VAR_OFF < smin < <int64_t>MAX_VAR_OFF):
        return -1
    r = copy_reg(d)
    setslot(r, R_OFF, noff)
    if (t == PKT or t == PKT_META) and <int64_t>getslot(r, R_RNG) < 0:
        setslot(r, R_RNG, ZERO)   # an AT/BEYOND pkt_end mark does not survive arithmetic
    put(regs, dst, r)
    return pc + 1
