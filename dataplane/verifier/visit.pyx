"""is_state_visited, native: at every prune point, the kept checkpoints of
that instruction are scanned (newest first) for one covering the current
state (prune), one exactly equal while still being explored (an infinite
loop), and the ones that keep missing (evicted); and a new checkpoint is
taken when the kernel's heuristics say so (2 jumps and 8 instructions since
the last one, 20 jumps / 100 instructions inside a loop, forced ones).

The bookkeeping around it (taking a checkpoint, a hit's precision and
backedges, cleaning dead registers, freeing) is explore.py's; this is the
scan, which runs several times per instruction in a loop.
"""
from libc.stdlib cimport calloc, free
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE

from dataplane.verifier.equiv cimport EXACT, NOT_EXACT, RANGE_WITHIN, maybe_looping, states_equal
from dataplane.verifier.slots cimport getslot, setslot, slot_offset, slotptr
from dataplane.verifier.explore import offer_gil
from dataplane.verifier import iters
from dataplane.verifier.state import Frame, State

cdef Py_ssize_t S_BRANCHES = slot_offset(State, "branches"), S_HIST = slot_offset(State, "hist")
cdef Py_ssize_t S_FRAMES = slot_offset(State, "frames"), S_MISS = slot_offset(State, "miss")
cdef Py_ssize_t S_HIT = slot_offset(State, "hit"), S_CLEANED = slot_offset(State, "cleaned")
cdef Py_ssize_t S_EVICTED = slot_offset(State, "evicted")
cdef Py_ssize_t F_CALLSITE = slot_offset(Frame, "callsite")


cdef inline long lg(object o, Py_ssize_t off):
    return <long><object>slotptr(o, off)


cdef class Visitor:
    def __cinit__(self, v):
        cfg = v.cfg
        self.v = v
        self.explored = v.explored
        self.live_in = cfg.live_in
        self.n = cfg.n
        self.force = <unsigned char *>calloc(self.n + 1, 1)
        self.calls_cb = <unsigned char *>calloc(self.n + 1, 1)
        self.iter_next = <unsigned char *>calloc(self.n + 1, 1)
        if self.force == NULL or self.calls_cb == NULL or self.iter_next == NULL:
            raise MemoryError()
        for pc in cfg.force:
            self.force[pc] = 1
        for pc in cfg.calls_cb:
            self.calls_cb[pc] = 1
        for pc in cfg.iter_next:
            self.iter_next[pc] = 1

    def __dealloc__(self):
        free(self.force)
        free(self.calls_cb)
        free(self.iter_next)

    cpdef bint visit(self, cur, int pc) except -1:
        """True when ``cur`` at ``pc`` is covered by a kept checkpoint (prune)."""
        v = self.v
        cdef list frames = getslot(cur, S_FRAMES), lst
        cdef Py_ssize_t j, n
        cdef long jmps = v.jmps_processed, insns = v.insn_processed
        cdef long djmps = jmps - <long>v.prev_jmps, dinsns = insns - <long>v.prev_insns
        cdef long miss, hit, nn
        cdef bint force = self.force[pc] or PyList_GET_SIZE(getslot(cur, S_HIST)) > 40
        cdef bint add = force or (djmps >= 2 and dinsns >= 8)
        cdef bint loop, clean = False
        key = (pc, getslot(<object>PyList_GET_ITEM(frames, PyList_GET_SIZE(frames) - 1), F_CALLSITE))
        got = self.explored.get(key)
        if got is None:
            lst = []
            self.explored[key] = lst
        else:
            lst = <list>got
        n = PyList_GET_SIZE(lst)
        if n:
            for j in range(n):
                sl = <object>PyList_GET_ITEM(lst, j)
                if lg(sl, S_BRANCHES) == 0 and not getslot(sl, S_CLEANED):
                    clean = True
                    break
            if clean:
                v._clean(lst, cur)
            if n > <long>v.max_states_per_insn:
                v.max_states_per_insn = n
            visits = v.visits
            for j in range(n - 1, -1, -1):     # newest first, as the kernel's list
                if not (j & 255):
                    offer_gil()     # a long native scan: let a waiting thread run
                sl = <object>PyList_GET_ITEM(lst, j)
                if lg(sl, S_BRANCHES):
                    if self.iter_next[pc]:
                        # an iterator's next(): equal by range to a state of
                        # this very loop with the iterator still ACTIVE is
                        # its convergence (no infinite-loop check here)
                        if states_equal(sl, cur, self.live_in, RANGE_WITHIN) and iters.active_at_r1(cur):
                            v._hit(sl, cur, pc, True)
                            return True
                    elif self.calls_cb[pc]:
                        if states_equal(sl, cur, self.live_in, RANGE_WITHIN):
                            v._hit(sl, cur, pc, False)
                            return True
                    elif (maybe_looping(sl, cur) and states_equal(sl, cur, self.live_in, EXACT)
                          and not iters.active_depths_differ(sl, cur)):
                        v._infinite_loop(cur, sl, pc)
                    if not force and djmps < 20 and dinsns < 100:
                        add = False
                else:
                    loop = bool(visits) and v._incomplete(sl)
                    if states_equal(sl, cur, self.live_in, RANGE_WITHIN if loop else NOT_EXACT):
                        v._hit(sl, cur, pc, loop)
                        return True
                miss, hit = lg(sl, S_MISS), lg(sl, S_HIT)
                if add:
                    miss += 1
                    setslot(sl, S_MISS, miss)
                nn = 64 if (lg(sl, S_BRANCHES) > 0 and self.force[pc]) else 3
                if miss > hit * nn + nn:
                    del lst[j]
                    v._evict(sl)
        if not add:
            return False
        v._checkpoint(cur, pc, lst)
        return False
