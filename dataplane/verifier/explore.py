"""Exploration bookkeeping of the main loop (the kernel's is_state_visited,
push_stack, update_branch_counts and the SCC visits of loops): which states
are kept as checkpoints, when a path is pruned against one, when a loop is
declared infinite, and the bounds a caller can put on all of it (deadline,
cancellation, states kept).

The heuristics are the kernel's, since they decide the processed-instruction
count and so the verdict near the 1M complexity limit:
- a checkpoint is added only after 2 jumps and 8 instructions since the last
  one (or when forced), and inside a loop only every 20 jumps / 100 insns;
- a checkpoint that keeps missing (miss_cnt > 3 * hit_cnt + 3) is evicted;
- inside a loop whose precision marks are not final yet (an SCC visit with
  backedges), states are compared by range (RANGE_WITHIN), and the matches
  are replayed as backedges when the loop's exploration ends.
"""
from __future__ import annotations

import errno
import time

from dataplane.errors import VerifierAborted
from dataplane.verifier.state import Hist, State
from dataplane.verifier.reg import Reg

JMP_SEQ_LIMIT = 8192
MAX_BACKEDGE_ITERS = 64
BUDGET_EVERY = 1024        # processed instructions between deadline/cancel checks


def offer_gil() -> None:
    """A yield point of the native loops (fastloop, visit, backtrack): any
    call into Python lets the eval loop hand the GIL to a thread that asked
    for it (CPython checks at a function's start).  ``with nogil: pass``
    does not: this thread takes the GIL straight back, and every take counts
    as a switch, so a waiting thread (the service's RPCs) that keeps seeing
    switches never asks for the GIL to be dropped, and waited out whole
    native stretches: up to 300 ms in CI."""


class Visit:
    __slots__ = ("entry", "backedges")

    def __init__(self):
        self.entry = None
        self.backedges: list = []


class ExploreMixin:
    def _init_explore(self, deadline, cancel, max_states) -> None:
        self.explored: dict[tuple, list] = {}
        self.pending: list = []       # (state, pc, prev_pc, log position)
        self.visits: dict[tuple, Visit] = {}
        self.jmps_processed = self.prev_jmps = self.prev_insns = 0
        self.explored_size = self.free_size = self.num_backedges = 0
        self.cur_hist = None
        self.t0 = time.monotonic()
        self.deadline = deadline
        self.cancel = cancel
        self.max_states = max_states

    def _drop_states(self, st=None) -> None:
        """Free the states when the exploration ends (done, rejected or aborted), BEFORE the
        collector is back on. With it off, every object made since is in generation 0: the
        current path (``st``, its parent checkpoints and their jump histories: ~190,000 objects
        after the service test's slow load ran into the complexity limit) stayed alive, and the
        first collection after gc.enable() walked them all holding the GIL (50 ms of CPU, 100-
        200 ms on a loaded machine: the other RPCs' stall). Freed in small steps from bytecode,
        so the eval loop can hand the GIL to other threads between them."""
        for d in (self.explored, self.visits):
            while d:
                d.popitem()
        p = self.pending
        while p:
            p.pop()
        bt = getattr(self, "bt", None)
        if bt is not None:                # precision backtracking's cache: up to 200,000 walks
            memo = bt.take_memo()
            while memo:
                memo.popitem()
        while st is not None:
            h = st.hist
            if isinstance(h, list):       # (a checkpoint's may be a tuple: small, freed with it)
                while h:
                    del h[-4096:]
            st.parent, st = None, st.parent

    # ---------------------------------------------------------------- bounds
    def _check_budget(self) -> None:
        """Called every BUDGET_EVERY processed instructions and on new states."""
        # the deadline first: a service job's cancel flag also turns on
        # past its deadline, and that stop is a timeout, not a cancellation
        if self.deadline is not None and time.monotonic() - self.t0 > self.deadline:
            self._abort(f"verification exceeded {self.deadline:g} s", errno.ETIMEDOUT)
        c = self.cancel
        if c is not None and (c.is_set() if hasattr(c, "is_set") else c()):
            at = getattr(c, "deadline", None)     # the service's job: its own monotonic deadline
            if self.deadline is not None and at is not None and time.monotonic() >= at:
                self._abort(f"verification exceeded {self.deadline:g} s", errno.ETIMEDOUT)
            self._abort("verification cancelled", errno.ECANCELED)

    def _abort(self, msg: str, kind: int):
        self.lines.append(msg)
        err = VerifierAborted(msg, self._final_log())
        err.kind = kind
        raise err

    def _states_now(self) -> int:
        return self.explored_size + self.free_size + self.num_backedges

    def _update_peak(self) -> None:
        n = self._states_now()
        if n > self.peak_states:
            self.peak_states = n
            if self.max_states is not None and n > self.max_states:
                self._abort(f"verification exceeded {self.max_states} states", errno.ENOMEM)

    # ---------------------------------------------------------------- history
    def push_hist(self, st, flags: int = 0, linked=None) -> None:
        """push_jmp_history: one entry per instruction, flags merged."""
        ent = self.cur_hist
        if ent is not None:
            ent.flags |= flags
            if linked:
                ent.linked = linked
            return
        ent = Hist(self.cur_pc, self.prev_pc, flags, linked)
        st.hist.append(ent)
        self.cur_hist = ent

    # ---------------------------------------------------------------- SCCs
    def _callchain(self, st):
        """compute_scc_callchain: the call sites down to the first frame
        whose instruction is in a loop, and that loop's SCC; None if none."""
        scc = self.cfg.scc
        frames = st.frames
        top = len(frames) - 1
        sites = []
        for i in range(top + 1):
            pc = st.insn if i == top else frames[i + 1].call_pc()
            s = scc[pc]
            if s:
                return (tuple(sites), s)
            if i < top:
                sites.append(pc)
        return None

    def _enter_scc(self, st) -> None:
        cc = self._callchain(st)
        if cc is None:
            return
        v = self.visits.get(cc)
        if v is None:
            v = self.visits[cc] = Visit()
        if v.entry is None:
            v.entry = st

    def _exit_scc(self, st) -> None:
        cc = self._callchain(st)
        if cc is None:
            return
        v = self.visits.get(cc)
        if v is None or v.entry is not st:
            return
        v.entry = None
        self.num_backedges -= len(v.backedges)
        self._update_peak()
        self._propagate_backedges(v)

    def _propagate_backedges(self, v: Visit) -> None:
        """Precision marks found after a loop state was matched inside the
        loop are carried to the matching paths, until nothing changes."""
        for _ in range(MAX_BACKEDGE_ITERS + 1):
            changed = False
            for be in v.backedges:
                changed |= self.propagate_precision(be.equal_state, be)
            if not changed:
                break
        else:
            for be in v.backedges:
                self._mark_all_precise(be)
        v.backedges = []

    def _incomplete(self, st) -> bool:
        """incomplete_read_marks: st's loop is still being explored and
        some path already matched a state inside it."""
        if not self.visits:
            return False
        cc = self._callchain(st)
        if cc is None:
            return False
        v = self.visits.get(cc)
        return bool(v is not None and v.backedges)

    # ---------------------------------------------------------------- branches
    def push_branch(self, st: State, pc: int, from_pc: int) -> None:
        """Queue the other side of a conditional jump (push_stack)."""
        if st.parent is not None:
            st.parent.branches += 1
        self.pending.append((st, pc, from_pc, len(self.lines)))
        if len(self.pending) > JMP_SEQ_LIMIT:
            self.fail(f"The sequence of {len(self.pending)} jumps is too complex.")

    def _update_branch_counts(self, st) -> None:
        while st is not None:
            st.branches -= 1
            if st.branches:
                break
            self._exit_scc(st)
            if st.evicted:
                self._maybe_free(st)
            st = st.parent

    def _maybe_free(self, st) -> None:
        if st.evicted and st.branches == 0 and not self._incomplete(st):
            st.evicted = None       # freed: counted once
            self.free_size -= 1

    def _path_done(self, st):
        """The current path ended (exit or pruned): next pending branch, or None."""
        self._update_branch_counts(st)
        self.live.update(st)
        if not self.pending:
            return None
        nst, pc, from_pc, pos = self.pending.pop()
        self.prev_pc = from_pc
        if self.log_level:
            del self.lines[pos:]
            self.verbose(f"from {from_pc} to {pc}: {self.fmt_state(nst)}")
        return nst, pc

    # ---------------------------------------------------------------- checkpoints
    def _same_callsites(self, a, b) -> bool:
        fa, fb = a.frames, b.frames
        if len(fa) != len(fb):
            return False
        for x, y in zip(fa, fb):
            if x.callsite != y.callsite:
                return False
        return True

    def _clean(self, lst, cur) -> None:
        """clean_live_states: finished checkpoints here forget dead registers."""
        live_in = self.cfg.live_in
        for sl in lst:
            if sl.branches or sl.cleaned or not self._same_callsites(sl, cur) or self._incomplete(sl):
                continue
            sl.cleaned = True
            frames = sl.frames
            top = len(frames) - 1
            self.live.query_init(sl)
            alive = self.live.alive
            for i, f in enumerate(frames):
                live = live_in[sl.insn if i == top else frames[i + 1].call_pc()]
                regs = f.regs
                for r in range(10):
                    if not live >> r & 1 and regs[r].t:
                        regs[r] = Reg()
                stack = f.stack
                for spi in [spi for spi in stack if not alive(f.frameno, spi)]:
                    del stack[spi]

    def _is_state_visited(self, cur: State, pc: int) -> bool:
        """is_state_visited (the scan is native: visit.pyx)."""
        return self.visitor.visit(cur, pc)

    def _infinite_loop(self, cur, sl, pc: int):
        msg = f"infinite loop detected at insn {pc}"
        self.verbose(msg)
        self.verbose(f"cur state: {self.fmt_state(cur)}")
        self.fail(f"old state: {self.fmt_state(sl)}", summary=msg)

    def _evict(self, sl) -> None:
        """The checkpoint keeps missing: off the list (freed once finished)."""
        self.explored_size -= 1
        self.free_size += 1
        sl.evicted = True
        self._maybe_free(sl)

    def _checkpoint(self, cur, pc: int, lst: list) -> None:
        """Keep a copy of ``cur`` as the new checkpoint at ``pc``; ``cur``'s
        path now starts there (parent, first instruction, empty history)."""
        self.total_states += 1
        self.explored_size += 1
        self._update_peak()
        self.prev_jmps, self.prev_insns = self.jmps_processed, self.insn_processed
        new = cur.copy()
        # a checkpoint's history never changes again: a tuple of entries
        # (which the collector stops scanning), not a list
        new.hist = tuple(cur.hist)
        new.insn = pc
        new.branches = 1
        self._enter_scc(new)
        cur.parent = new
        cur.first_insn = pc
        cur.hist = []
        lst.append(new)
        if self.cancel is not None or self.deadline is not None:
            self._check_budget()

    def _hit(self, sl, cur, pc: int, loop: bool) -> None:
        sl.hit += 1
        if pc in self.cfg.jmp:
            self.push_hist(cur)
        self.propagate_precision(sl, cur)
        if loop:
            be = cur.copy()
            be.parent = cur.parent
            be.equal_state = sl
            be.insn = pc
            cc = self._callchain(sl)
            v = self.visits.get(cc) if cc is not None else None
            if v is not None:
                v.backedges.append(be)
                self.num_backedges += 1
                self._update_peak()
