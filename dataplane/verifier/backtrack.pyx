"""Precision backtracking (the kernel's __mark_chain_precision and
backtrack_insn), native: it runs at every decided branch, pointer offset
and size argument, walking the path back instruction by instruction.

Scalars start imprecise and state pruning ignores the imprecise scalars of
a checkpoint.  When an instruction relies on a scalar's exact range, the
path is walked back through the jump history of the current state and of
each parent checkpoint, and every register or spilled stack slot the value
was computed from is marked precise in those checkpoints.  The rules follow
kernel/bpf/verifier.c step by step: what gets marked decides which states
are pruned, and so the processed-instruction count.

A walk through a history entry with given masks always ends the same way
(it reads instructions and history, never values), so its outcome is
cached per (entry, masks): a loop walks the same iterations again and again.
With frame-0 masks (most walks) the cache is in the entry itself (one
outcome per entry, hist.pxd); with deeper masks a dict keyed by
(entry, masks).
"""
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS

from dataplane.verifier.slots cimport getslot, setslot, slot_offset, slotptr
from dataplane.verifier.hist cimport Hist
from dataplane.verifier.explore import offer_gil
from dataplane.verifier.state import Frame, State
from dataplane.verifier.reg import Reg, SCALAR as _SCALAR

# jump history flags, as the kernel's INSN_F_* (frame number, stack slot)
FRAMENO_MASK_ = FRAMENO_MASK
SPI_SHIFT_ = SPI_SHIFT
STACK_ACCESS_ = STACK_ACCESS
DST_REG_STACK_ = DST_REG_STACK
SRC_REG_STACK_ = SRC_REG_STACK
MEMO_LIMIT = 200_000       # cached segment walks kept (cleared past it)

cdef enum:
    K_NONE, K_MOVX, K_MOVK, K_ALUX, K_ALUK, K_KEEP, K_LDX, K_ST, K_STX, K_LOCAL_CALL, K_CB_CALL, K_CALL,
    K_UNSUP_CALL, K_EXIT, K_JX, K_JK, K_LDIMM, K_LDABS

cdef Py_ssize_t S_HIST, S_FIRST, S_INSN, S_LAST, S_PARENT, S_FRAMES
cdef Py_ssize_t F_REGS, F_STACK, F_PREC, F_SPREC, F_DEPTH
cdef Py_ssize_t R_T
S_HIST, S_FIRST, S_INSN = slot_offset(State, "hist"), slot_offset(State, "first_insn"), slot_offset(State, "insn")
S_LAST, S_PARENT, S_FRAMES = (slot_offset(State, "last_insn"), slot_offset(State, "parent"),
                              slot_offset(State, "frames"))
F_REGS, F_STACK, F_PREC = slot_offset(Frame, "regs"), slot_offset(Frame, "stack"), slot_offset(Frame, "prec")
F_SPREC, F_DEPTH = slot_offset(Frame, "sprec"), slot_offset(Frame, "depth")
R_T = slot_offset(Reg, "t")
cdef long SCALAR = _SCALAR
cdef object EMPTY = "empty", UNSUP = "unsupported"
cdef object INVALID = ("????????", None)


class Unsupported(Exception):
    """backtrack_insn's -ENOTSUPP: mark every scalar precise instead."""


cdef inline long ival(PyObject *p):
    return <long><object>p


cdef class Backtracker:
    def __cinit__(self, prog, calls_cb, sync_cb_helpers):
        cdef int n = len(prog), pc
        self.n = n
        self.kind = <unsigned char *>calloc(n + 1, 1)
        self.dst = <unsigned char *>calloc(n + 1, 1)
        self.src = <unsigned char *>calloc(n + 1, 1)
        self.local_call = <unsigned char *>calloc(n + 1, 1)
        self.calls_cb = <unsigned char *>calloc(n + 1, 1)
        if not (self.kind and self.dst and self.src and self.local_call and self.calls_cb):
            raise MemoryError()
        cdef int code, src
        for pc in range(n):
            insn = prog[pc]
            if insn is None:
                continue
            code, src = insn.opcode, insn.src
            self.kind[pc] = _kind(code, src, insn.imm if code == 0x85 or code == 0x8D else 0, sync_cb_helpers)
            self.dst[pc], self.src[pc] = insn.dst, src
            self.local_call[pc] = code == 0x85 and src == 1        # BPF_PSEUDO_CALL
        for pc in calls_cb:
            if 0 <= pc < n and prog[pc] is not None:
                self.calls_cb[pc] = 1
        self.memo = {}
        self.walks = 0

    def take_memo(self) -> dict:
        """The cached walks, handed over (an empty cache from now on): the verifier frees them in
        steps when the exploration ends (explore.py _drop_states)."""
        memo, self.memo = self.memo, {}
        return memo

    def __dealloc__(self):
        free(self.kind)
        free(self.dst)
        free(self.src)
        free(self.local_call)
        free(self.calls_cb)

    # ---------------------------------------------------------------- entry points
    cpdef bint mark_reg(self, st, int regno) except -1:
        """mark_chain_precision(regno) of the current state's innermost frame."""
        frames = getslot(st, S_FRAMES)
        cdef int top = len(frames) - 1
        regs = getslot(frames[top], F_REGS)
        if ival(slotptr(regs[regno], R_T)) != SCALAR:
            return False
        self._reset(top)
        self.regs[top] = 1ULL << regno
        return self._chain(st)

    cpdef bint mark_slot(self, st, int frameno, int spi) except -1:
        self._reset(len(getslot(st, S_FRAMES)) - 1)
        self.stack[frameno] = 1ULL << spi
        return self._chain(st)

    cpdef bint propagate(self, old, cur) except -1:
        """propagate_precision: a pruned state inherits the precision its
        equivalent checkpoint needed."""
        cdef int fr, r
        cdef uint64_t p, sp_mask
        self._reset(len(getslot(cur, S_FRAMES)) - 1)
        ofr = getslot(old, S_FRAMES)
        for fr in range(len(ofr)):
            f = ofr[fr]
            p = getslot(f, F_PREC)
            if p:
                regs = getslot(f, F_REGS)
                for r in range(10):
                    if p >> r & 1 and ival(slotptr(regs[r], R_T)) == SCALAR:
                        self.regs[fr] |= 1ULL << r
            sp_mask = getslot(f, F_SPREC)
            if sp_mask:
                for spi, slot in (<dict>getslot(f, F_STACK)).items():
                    sp = slot[1]
                    if sp_mask >> <int>spi & 1 and slot[0][7] == "r" and sp is not None and \
                            ival(slotptr(sp, R_T)) == SCALAR:
                        self.stack[fr] |= 1ULL << <int>spi
        return self._chain(cur)

    cpdef mark_all(self, start):
        """mark_all_scalars_precise: the big hammer, on every checkpoint of
        the path (the current state's marks do not matter)."""
        cdef long walked = 0
        st = getslot(start, S_PARENT)
        while st is not None:
            for f in getslot(st, S_FRAMES):
                regs = getslot(f, F_REGS)
                prec = getslot(f, F_PREC)
                for r in range(10):
                    if ival(slotptr(regs[r], R_T)) == SCALAR:
                        prec |= 1 << r
                setslot(f, F_PREC, prec)
                sprec = getslot(f, F_SPREC)
                for spi, slot in (<dict>getslot(f, F_STACK)).items():
                    sp = slot[1]
                    if slot[0][7] == "r" and sp is not None and ival(slotptr(sp, R_T)) == SCALAR:
                        sprec |= 1 << spi
                setslot(f, F_SPREC, sprec)
            st = getslot(st, S_PARENT)
            walked += 1
            if not (walked & 255):
                offer_gil()

    # ---------------------------------------------------------------- masks
    cdef void _reset(self, int frame):
        cdef int i
        self.frame = frame
        for i in range(8):
            self.regs[i] = 0
            self.stack[i] = 0

    cdef bint _empty(self):
        cdef int i
        for i in range(self.frame + 1):
            if self.regs[i] or self.stack[i]:
                return False
        return True

    cdef object _key(self, ent):
        cdef int f = self.frame
        if f == 0:
            return (ent, self.regs[0], self.stack[0])
        return (ent, f, tuple([self.regs[i] for i in range(f + 1)]), tuple([self.stack[i] for i in range(f + 1)]))

    cdef object _outcome(self):
        cdef int f = self.frame
        return (f, tuple([self.regs[i] for i in range(f + 1)]), tuple([self.stack[i] for i in range(f + 1)]))

    cdef void _apply(self, tuple out):
        cdef int i
        self.frame = out[0]
        regs, stack = out[1], out[2]
        for i in range(len(regs)):
            self.regs[i] = regs[i]
            self.stack[i] = stack[i]

    cdef object _inline_outcome(self, Hist he):
        """The outcome an entry's own cache holds (mst != 0), as the dict's."""
        if he.mst == 2:
            return EMPTY
        if he.mst == 3:
            return UNSUP
        return (0, (he.mor,), (he.mos,))

    cdef int _store(self, list seen, list seen0, object out) except -1:
        """Every walked entry's outcome is ``out`` (its masks when the walk
        passed it are its key).  An entry with frame-0 masks keeps it itself
        unless the outcome ends in another frame (then it is not cached)."""
        cdef Hist he
        cdef unsigned char st
        cdef uint64_t r = 0, s = 0
        for k in seen:
            self.memo[k] = out
        if not seen0:
            return 0
        if out is EMPTY:
            st = 2
        elif out is UNSUP:
            st = 3
        elif (<tuple>out)[0] == 0:
            st = 1
            r, s = (<tuple>out)[1][0], (<tuple>out)[2][0]
        else:
            return 0
        for x in seen0:
            he = <Hist>x
            he.mst, he.mor, he.mos = st, r, s
        return 0

    cdef void _sync_linked(self, PyObject *ent):
        """bt_sync_linked_regs: if one register of a linked set needs
        precision, all of them do (a branch refined them together)."""
        if ent == NULL:
            return
        linked = (<Hist>ent).linked
        if not linked:
            return
        cdef bint some = False
        cdef int fr, n
        for fr, is_reg, n in linked:
            if ((self.regs[fr] >> n) & 1) if is_reg else ((self.stack[fr] >> n) & 1):
                some = True
                break
        if not some:
            return
        for fr, is_reg, n in linked:
            if is_reg:
                self.regs[fr] |= 1ULL << n
            else:
                self.stack[fr] |= 1ULL << n

    # ---------------------------------------------------------------- one insn
    cdef int _insn(self, int idx, int subseq, PyObject *ent) except -1:
        """backtrack_insn; 1 for -ENOTSUPP."""
        cdef int k = self.kind[idx], fr, d, s, i, sfr, spi
        cdef long flags
        cdef uint64_t *regs = self.regs
        if k == K_NONE:
            return 0
        self._sync_linked(ent)
        fr = self.frame
        d, s = self.dst[idx], self.src[idx]
        if k <= K_KEEP:                       # ALU
            if not (regs[fr] >> d) & 1:
                return 0
            if k == K_MOVX:
                regs[fr] &= ~(1ULL << d)
                if s != 10:
                    regs[fr] |= 1ULL << s
            elif k == K_MOVK:
                regs[fr] &= ~(1ULL << d)
            elif k == K_ALUX and s != 10:
                regs[fr] |= 1ULL << s
            return 0
        if k == K_LDX:
            if not (regs[fr] >> d) & 1:
                return 0
            regs[fr] &= ~(1ULL << d)
            if ent == NULL:
                return 0
            flags = (<Hist>ent).flags
            if not flags & STACK_ACCESS:
                return 0
            self.stack[flags & FRAMENO_MASK] |= 1ULL << ((flags >> SPI_SHIFT) & SPI_MASK)
            return 0
        if k == K_ST or k == K_STX:
            if (regs[fr] >> d) & 1:
                return 1          # pointer subtraction through memory
            if ent == NULL:
                return 0
            flags = (<Hist>ent).flags
            if not flags & STACK_ACCESS:
                return 0
            sfr, spi = flags & FRAMENO_MASK, (flags >> SPI_SHIFT) & SPI_MASK
            if not (self.stack[sfr] >> spi) & 1:
                return 0
            self.stack[sfr] &= ~(1ULL << spi)
            if k == K_STX:
                regs[fr] |= 1ULL << s
            return 0
        if k == K_LOCAL_CALL:
            # the call that entered the subprogram we are leaving: only
            # r1-r5 may still be wanted, they are the caller's
            if regs[fr] & ~ARGS or self.stack[fr] or fr == 0:
                return 1
            for i in range(1, 6):
                if (regs[fr] >> i) & 1:
                    regs[fr] &= ~(1ULL << i)
                    regs[fr - 1] |= 1ULL << i
            self.frame = fr - 1
            return 0
        if k == K_CB_CALL and idx != subseq - 1:
            # back from a callback to the helper that called it
            if regs[fr] & ~ARGS or self.stack[fr] or fr == 0:
                return 1
            regs[fr] &= ~(<uint64_t>ARGS)
            self.frame = fr - 1
            return 0
        if k == K_CALL or k == K_CB_CALL:
            regs[fr] &= ~1ULL
            if regs[fr] & ARGS:
                return 1
        elif k == K_UNSUP_CALL:
            return 1
        elif k == K_EXIT:
            if subseq >= 0 and self.calls_cb[subseq]:
                regs[fr] &= ~(<uint64_t>ARGS)
            if regs[fr] & ARGS:
                return 1
            r0 = subseq >= 1 and self.local_call[subseq - 1] and regs[fr] & 1
            regs[fr] &= ~1ULL
            if fr == MAX_CALL_FRAMES - 1:
                return 1
            self.frame = fr + 1
            if r0:
                regs[fr + 1] |= 1
            return 0
        elif k == K_JX:
            if not ((regs[fr] >> d) & 1 or (regs[fr] >> s) & 1):
                return 0
            flags = (<Hist>ent).flags if ent != NULL else 0
            if not flags & SRC_REG_STACK:
                regs[fr] |= 1ULL << s
            if not flags & DST_REG_STACK:
                regs[fr] |= 1ULL << d
        elif k == K_LDIMM or k == K_LDABS:
            if not (regs[fr] >> d) & 1:
                return 0
            regs[fr] &= ~(1ULL << d)
            if k == K_LDABS:
                return 1
        self._sync_linked(ent)
        return 0

    # ---------------------------------------------------------------- the walk
    cdef bint _chain(self, start) except -1:
        """__mark_chain_precision: True when some checkpoint got a new mark."""
        self.walks += 1
        if self._empty():
            return False
        r = self._walk(start)
        if r < 0:
            self.mark_all(start)
            return True
        return r

    cdef int _walk(self, start) except -2:
        """0/1: changed; -1: fall back to marking everything precise."""
        cdef int first_idx, last_idx, subseq = -1, i, h, fr, r, spi
        cdef bint skip_first = True, changed = False
        cdef long walked = 0
        cdef list seen, seen0
        cdef Hist he
        cdef PyObject *ent
        cdef PyObject **items
        cdef uint64_t m, prec
        cdef dict memo = self.memo
        if len(memo) > MEMO_LIMIT:
            # emptied in steps: freeing 200,000 entries in one call holds the GIL for tens of ms
            while memo:
                memo.popitem()
                walked += 1
                if not (walked & 4095):
                    offer_gil()
            walked = 0
        st = start
        first_idx, last_idx = ival(slotptr(st, S_FIRST)), ival(slotptr(st, S_INSN))
        while True:
            if last_idx < 0:
                return -1
            hist = getslot(st, S_HIST)     # a list, or a checkpoint's tuple
            items = PySequence_Fast_ITEMS(hist)
            h = PySequence_Fast_GET_SIZE(hist)
            i = last_idx
            seen = []       # dict keys of the entries walked (frames above 0)
            seen0 = []      # entries walked with frame-0 masks (their own cache)
            while True:
                if skip_first:
                    skip_first = False
                else:
                    ent = NULL
                    if h:
                        ent = items[h - 1]
                        if (<Hist>ent).idx != i:
                            ent = NULL
                    if ent != NULL and self.frame == 0:
                        # frame-0 masks: the cache in the entry (hist.pxd)
                        he = <Hist>ent
                        if he.mst and he.mkr == self.regs[0] and he.mks == self.stack[0]:
                            out = self._inline_outcome(he)
                            self._store(seen, seen0, out)
                            if out is EMPTY:
                                return changed
                            if out is UNSUP:
                                return -1
                            self._apply(out)
                            break
                        he.mst = 0
                        he.mkr, he.mks = self.regs[0], self.stack[0]
                        seen0.append(he)
                    elif ent != NULL:
                        key = self._key(<object>ent)
                        out = memo.get(key)
                        if out is not None:
                            self._store(seen, seen0, out)
                            if out is EMPTY:
                                return changed
                            if out is UNSUP:
                                return -1
                            self._apply(out)
                            break
                        seen.append(key)
                    if self._insn(i, subseq, ent):
                        self._store(seen, seen0, UNSUP)
                        return -1
                if (not (self.regs[0] or self.stack[0])) if self.frame == 0 else self._empty():
                    self._store(seen, seen0, EMPTY)
                    return changed
                subseq = i
                # get_prev_insn_idx
                if i == first_idx and (h == 0 or (h == 1 and (<Hist>items[0]).idx == i)):
                    if seen or seen0:
                        self._store(seen, seen0, self._outcome())
                    break
                if h:
                    ent = items[h - 1]
                    if (<Hist>ent).idx == i:
                        i = (<Hist>ent).prev
                        h -= 1
                        continue
                i -= 1
            st = getslot(st, S_PARENT)
            if st is None:
                break
            walked += 1
            if not (walked & 255):
                offer_gil()     # a long chain of checkpoints (a bounded loop's)
            frames = getslot(st, S_FRAMES)
            for fr in range(self.frame, -1, -1):
                if fr >= len(frames):
                    return -1
                f = frames[fr]
                m = self.regs[fr]
                if m:
                    regs = getslot(f, F_REGS)
                    prec = getslot(f, F_PREC)
                    for r in range(11):
                        if (m >> r) & 1:
                            if ival(slotptr(regs[r], R_T)) != SCALAR or (prec >> r) & 1:
                                m &= ~(1ULL << r)
                            else:
                                prec |= 1ULL << r
                                changed = True
                    setslot(f, F_PREC, prec)
                    self.regs[fr] = m
                m = self.stack[fr]
                if m:
                    depth = getslot(f, F_DEPTH)
                    if m >> ((depth + 7) // 8):
                        return -1
                    stack = <dict>getslot(f, F_STACK)
                    prec = getslot(f, F_SPREC)
                    for spi in range(64):
                        if (m >> spi) & 1:
                            slot = stack.get(spi, INVALID)
                            sp = slot[1]
                            if slot[0][7] != "r" or sp is None or ival(slotptr(sp, R_T)) != SCALAR or \
                                    (prec >> spi) & 1:
                                m &= ~(1ULL << spi)
                            else:
                                prec |= 1ULL << spi
                                changed = True
                    setslot(f, F_SPREC, prec)
                    self.stack[fr] = m
            if self._empty():
                return changed
            subseq = first_idx
            last_idx, first_idx = ival(slotptr(st, S_LAST)), ival(slotptr(st, S_FIRST))
        if not self._empty():
            return -1
        return changed


cdef int _kind(int code, int src, long imm, sync_cb_helpers):
    """backtrack_insn's instruction class, from the opcode's fields (not
    Instruction's properties: this runs on every instruction of every load).
    ``imm``: a call's (0 for the others)."""
    cdef int cls = code & 7, o = code & 0xF0
    cdef bint x = code & 0x08
    if cls == 4 or cls == 7:                  # ALU / ALU64
        if o == 0xD0 or o == 0x80:            # END, NEG
            return K_KEEP
        if o == 0xB0:                         # MOV
            return K_MOVX if x else K_MOVK
        return K_ALUX if x else K_ALUK
    if cls == 1:
        return K_LDX
    if cls == 2:
        return K_ST
    if cls == 3:
        return K_STX
    if cls == 0:
        return K_LDIMM if code == 0x18 else K_LDABS       # lddw
    # JMP / JMP32
    if code == 0x85 and src == 1:             # bpf-to-bpf call
        return K_LOCAL_CALL
    if code == 0x85 or code == 0x8D:          # call, callx
        if code == 0x85 and src == 0 and imm in sync_cb_helpers:
            return K_CB_CALL
        if src == 2 and imm == 0:             # kfunc with imm 0
            return K_UNSUP_CALL
        return K_CALL
    if code == 0x95:                          # exit
        return K_EXIT
    if x and not (code == 0x05 or code == 0x06):     # not ja / gotol
        return K_JX
    return K_JK
