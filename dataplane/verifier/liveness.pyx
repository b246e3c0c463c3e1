"""Stack slot liveness (the kernel's kernel/bpf/liveness.c, 6.18): which
stack slots may still be read after an instruction, so that state pruning
ignores dead ones (clean_live_states turns them invalid in finished
checkpoints).

Marks are collected per (call chain, instruction) as verification visits
them: "may_read" slots grow, "must_write" slots (full 8-byte writes) shrink
to the intersection of what every visit wrote.  A backward dataflow over
each subprogram, iterated in the kernel's postorder from the previous
solution until nothing changes (so the result is the kernel's, stale loop
marks included), gives live_before; what a subprogram reads or always
writes of its callers' frames flows to the call instruction of the caller's
chain.  The analysis is path-insensitive: a slot is dead only if no visited
path can read it.  Native because the fixpoint runs at every path end.
"""
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset


cdef uint64_t ALL = 0xFFFFFFFFFFFFFFFF


cdef class _Instance:
    """Marks for one call chain: per frame of the chain, per instruction of
    the innermost subprogram."""

    def __cinit__(self, tuple sites, tuple starts, int lo, int n):
        self.sites, self.starts, self.lo, self.n = sites, starts, lo, n
        self.nframes = len(sites)
        for i in range(8):
            self.masks[i] = NULL
        self.mw_set = <char *>calloc(n if n > 0 else 1, 1)
        self.mw_nonzero = <char *>calloc(n if n > 0 else 1, 1)
        if self.mw_set == NULL or self.mw_nonzero == NULL:
            raise MemoryError()

    def __dealloc__(self):
        for i in range(8):
            free(self.masks[i])
        free(self.mw_set)
        free(self.mw_nonzero)

    cdef uint64_t *frame(self, int f) except NULL:
        if self.masks[f] == NULL:
            self.masks[f] = <uint64_t *>calloc(4 * self.n if self.n > 0 else 4, sizeof(uint64_t))
            if self.masks[f] == NULL:
                raise MemoryError()
        return self.masks[f]


cdef int _postorder(int lo, int hi, int *soff, int *sidx, int *out, unsigned char *state,
                    int *stack) except -1:
    """compute_postorder for one subprogram [lo, hi): DFS from its start,
    the jump successor explored first (pushed last), exactly as the kernel.
    ``soff``/``sidx``: successors (relative pcs) in CSR form; ``state`` and
    ``stack``: scratch of hi - lo entries.  Writes the relative pcs in
    postorder to ``out``, returns their count."""
    cdef int n = hi - lo, sp = 0, cnt = 0, top, j, x
    memset(state, 0, n)
    stack[sp] = 0
    sp += 1
    while sp:
        top = stack[sp - 1]
        state[top] |= 1
        if state[top] & 2:
            out[cnt] = top
            cnt += 1
            sp -= 1
            continue
        for j in range(soff[top], soff[top + 1]):
            x = sidx[j]
            if not state[x]:
                stack[sp] = x
                sp += 1
                state[x] = 1
        state[top] |= 2
    return cnt


cdef class _Order:
    """One subprogram's successors (relative pcs, inside the subprogram) in
    CSR form and its postorder, as C arrays: the fixpoint below walks them
    at every path end, and Python ints cost an unboxing per access."""

    def __cinit__(self, int n, int nsucc):
        self.n = n
        self.soff = <int *>calloc(n + 1, sizeof(int))
        self.sidx = <int *>calloc(nsucc + 1, sizeof(int))
        self.order = <int *>calloc(n + 1, sizeof(int))
        if self.soff == NULL or self.sidx == NULL or self.order == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.soff)
        free(self.sidx)
        free(self.order)


cdef class StackLiveness:
    def __init__(self, cfg):
        self.cfg = cfg
        self.instances = {}
        self.cur = None
        self.winsn = 0
        self.wany = False
        starts = list(cfg.subprogs) + [cfg.n]
        self.bounds = {starts[i]: (starts[i], starts[i + 1]) for i in range(len(starts) - 1)}
        self.orders = {}
        prog, ksucc = cfg.prog, cfg.ksucc
        cdef int lo, hi, pc, k
        cdef _Order o
        cdef unsigned char *scratch = <unsigned char *>calloc(cfg.n + 1, 1)
        cdef int *stack = <int *>calloc(2 * cfg.n + 2, sizeof(int))
        if scratch == NULL or stack == NULL:
            free(scratch)
            free(stack)
            raise MemoryError()
        try:
            for s, (lo, hi) in self.bounds.items():
                rel = [[x - lo for x in ksucc[pc] if lo <= x < hi] if prog[pc] is not None else ()
                       for pc in range(lo, hi)]
                o = _Order(hi - lo, sum([len(r) for r in rel]))
                k = 0
                for pc in range(hi - lo):
                    o.soff[pc] = k
                    for x in rel[pc]:
                        o.sidx[k] = x
                        k += 1
                o.soff[hi - lo] = k
                o.norder = _postorder(lo, hi, o.soff, o.sidx, o.order, scratch, stack)
                self.orders[s] = o
        finally:
            free(scratch)
            free(stack)
        self.calls_cb = cfg.calls_cb
        self.q_insts = None

    # ---------------------------------------------------------------- chains
    cdef _Instance _lookup(self, tuple sites, tuple starts):
        inst = self.instances.get(sites)
        if inst is None:
            lo, hi = self.bounds[starts[len(starts) - 1]]
            inst = _Instance(sites, starts, lo, hi - lo)
            self.instances[sites] = inst
        return inst

    cdef _Instance _instance(self, st, int frameno):
        frames = st.frames
        subprogs = self.cfg.subprogs
        starts = tuple([subprogs[frames[i].subprog] for i in range(frameno + 1)])
        sites = tuple([frames[i + 1].call_pc() for i in range(frameno)]) + (starts[frameno],)
        return self._lookup(sites, starts)

    cpdef reset_chain(self):
        self.cur = None

    # ---------------------------------------------------------------- marks
    cdef void _read(self, _Instance inst, int frame, int insn, uint64_t mask) except *:
        cdef uint64_t *m = inst.frame(frame)
        cdef int i = insn - inst.lo, n = inst.n
        cdef uint64_t mr = m[i], new = mr | mask, live = m[3 * n + i]
        if new != mr:
            if (new | live) != live:
                inst.updated = True
            m[i] = new

    cpdef mark_read(self, st, int frame, int insn, uint64_t mask):
        if self.cur is None:
            self.cur = self._instance(st, len(st.frames) - 1)
        self._read(self.cur, frame, insn, mask)

    cpdef reset_write(self, st, int insn):
        if self.cur is None:
            self.cur = self._instance(st, len(st.frames) - 1)
        self.winsn = insn
        if self.wany:
            memset(self.wacc, 0, sizeof(self.wacc))
            self.wany = False

    cpdef mark_write(self, int frame, uint64_t mask):
        self.wacc[frame] |= mask
        self.wany = True

    cpdef commit(self):
        self._commit(self.cur)

    cdef void _commit(self, _Instance inst) except *:
        cdef int idx, frame, n
        cdef uint64_t mask, old
        cdef uint64_t *m
        cdef bint seen, nonzero = False
        if inst is None:
            return
        idx = self.winsn - inst.lo
        n = inst.n
        seen = inst.mw_set[idx]
        if not self.wany and (not seen or not inst.mw_nonzero[idx]):
            inst.mw_set[idx] = 1
            return
        for frame in range(inst.nframes):
            mask = self.wacc[frame]
            if mask == 0 and not seen:
                continue
            m = inst.frame(frame)
            old = m[n + idx]
            if seen:
                mask &= old
            if old != mask:
                m[n + idx] = mask
                inst.updated = True
            if old & ~mask:
                inst.dropped = True
            if mask:
                nonzero = True
        inst.mw_nonzero[idx] = nonzero
        inst.mw_set[idx] = 1
        if self.wany:
            memset(self.wacc, 0, sizeof(self.wacc))
            self.wany = False

    # ---------------------------------------------------------------- dataflow
    cpdef update(self, st):
        """bpf_update_live_stack: bring every chain of ``st`` up to date
        (innermost first, so callee effects reach the callers)."""
        cdef _Instance inst
        self.cur = None
        for frame in range(len(st.frames) - 1, -1, -1):
            inst = self._instance(st, frame)
            if inst.updated:
                self._update_instance(inst)
                inst.updated = inst.dropped = False

    cdef void _update_instance(self, _Instance inst) except *:
        cdef int n = inst.n, f, i, j, k
        cdef uint64_t *m
        cdef uint64_t after, acc, before
        cdef bint changed
        cdef _Order o = self.orders[inst.starts[inst.nframes - 1]]
        cdef int *order = o.order
        cdef int *soff = o.soff
        cdef int *sidx = o.sidx
        cdef int norder = o.norder
        if inst.dropped:
            for f in range(inst.nframes):
                if inst.masks[f] != NULL:
                    memset(inst.masks[f] + 2 * n, 0, n * sizeof(uint64_t))
        changed = True
        while changed:     # the kernel's order: every frame, postorder, until nothing changes
            changed = False
            for f in range(inst.nframes):
                m = inst.masks[f]
                if m == NULL:
                    continue
                for k in range(norder):
                    i = order[k]
                    if soff[i] == soff[i + 1]:
                        continue
                    after = 0
                    acc = ALL
                    for j in range(soff[i], soff[i + 1]):
                        after |= m[3 * n + sidx[j]]
                        acc &= m[2 * n + sidx[j]]
                    acc |= m[n + i]
                    before = (after & ~m[n + i]) | m[i]
                    if before != m[3 * n + i] or acc != m[2 * n + i]:
                        m[3 * n + i] = before
                        m[2 * n + i] = acc
                        changed = True
        if inst.nframes > 1:
            self._to_outer(inst)

    def _to_outer(self, _Instance inst):
        """What the callee reads and always writes of its callers' frames,
        seen from its entry, happens at the call instruction."""
        cdef int depth = inst.nframes - 1, frame, n = inst.n
        cdef uint64_t *m
        sites, starts = inst.sites, inst.starts
        outer = self._lookup(sites[:depth - 1] + (starts[depth - 1],), starts[:depth])
        callsite = sites[depth - 1]
        saved_insn, saved_any = self.winsn, self.wany
        saved = [self.wacc[k] for k in range(8)]
        self.winsn = callsite
        memset(self.wacc, 0, sizeof(self.wacc))
        self.wany = False
        for frame in range(depth):
            m = inst.masks[frame]
            if m == NULL:
                continue
            self.mark_write(frame, m[2 * n])
            self._read(outer, frame, callsite, m[3 * n])
        self._commit(outer)
        self.winsn, self.wany = saved_insn, saved_any
        for k in range(8):
            self.wacc[k] = saved[k]

    # ---------------------------------------------------------------- queries
    cpdef query_init(self, st):
        self.q_insts = [self._instance(st, f) for f in range(len(st.frames))]
        self.q_insn = st.insn

    cpdef bint alive(self, int frameno, int spi):
        """bpf_stack_slot_alive for the state given to query_init."""
        cdef list insts = self.q_insts
        cdef _Instance top = insts[len(insts) - 1], inst
        cdef int i, at
        if _live_before(top, self.q_insn, frameno, spi):
            return True
        for i in range(frameno, len(insts) - 1):
            callsite = top.sites[i]
            at = callsite if callsite in self.calls_cb else callsite + 1
            inst = insts[i]
            if _live_before(inst, at, frameno, spi):
                return True
        return False


cdef inline bint _live_before(_Instance inst, int insn, int frameno, int spi):
    cdef uint64_t *m
    cdef int i
    if frameno >= inst.nframes or inst.masks[frameno] == NULL:
        return False
    m = inst.masks[frameno]
    i = insn - inst.lo
    if i < 0 or i >= inst.n:
        return False
    return (m[3 * inst.n + i] >> spi) & 1
