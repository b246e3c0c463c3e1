"""Stack slot liveness (the kernel's kernel/bpf/liveness.c, 6.18): which
stack slots may still be read after an instruction, so that state pruning
ignores dead ones (clean_live_states turns them invalid in finished
checkpoints).

Marks are collected per (call chain, instruction) as verification visits
them: "may_read" slots grow, "must_write" slots (full 8-byte writes) shrink
to the intersection of what every visit wrote.  A classic backward dataflow
over each subprogram then gives live_before; what a subprogram reads or
always writes of its callers' frames flows to the call instruction of the
caller's chain.  The analysis is path-insensitive, so a slot is dead only if
no visited path can read it.
"""
from __future__ import annotations

from dataplane.verifier.cfg import _kernel_succs

ALL = (1 << 64) - 1


class _Instance:
    """Marks for one call chain: per frame of the chain, per instruction of
    the innermost subprogram."""
    __slots__ = ("sites", "starts", "lo", "n", "frames", "updated", "dropped", "mw_set", "mw_nonzero")

    def __init__(self, sites: tuple, starts: tuple, lo: int, n: int):
        self.sites = sites        # call insn of each outer frame, then this subprogram's start
        self.starts = starts      # subprogram start of each frame
        self.lo, self.n = lo, n   # this subprogram: [lo, lo + n)
        self.frames: list = [None] * len(sites)   # per frame: [may_read, must_write, mw_acc, live_before]
        self.updated = False
        self.dropped = False
        self.mw_set: set = set()     # relative insns whose must_write was initialised
        self.mw_nonzero: set = set()

    def masks(self, frame: int):
        m = self.frames[frame]
        if m is None:
            n = self.n
            m = self.frames[frame] = [[0] * n, [0] * n, [0] * n, [0] * n]
        return m


class StackLiveness:
    def __init__(self, cfg):
        self.cfg = cfg
        self.instances: dict[tuple, _Instance] = {}
        self.cur = None            # instance of the current state's call chain
        self.winsn = 0
        self.wacc = None           # write masks of the instruction being checked, per frame
        starts = list(cfg.subprogs) + [cfg.n]
        self.bounds = {starts[i]: (starts[i], starts[i + 1]) for i in range(len(starts) - 1)}
        self.order = {s: [pc for pc in range(e - 1, s - 1, -1) if cfg.prog[pc] is not None]
                      for s, (_, e) in self.bounds.items()}
        self.succs = [_kernel_succs(cfg.prog, pc) if cfg.prog[pc] is not None else () for pc in range(cfg.n)]
        self.q = None

    # ---------------------------------------------------------------- chains
    def _lookup(self, sites: tuple, starts: tuple) -> _Instance:
        inst = self.instances.get(sites)
        if inst is None:
            lo, hi = self.bounds[starts[-1]]
            inst = self.instances[sites] = _Instance(sites, starts, lo, hi - lo)
        return inst

    def _instance(self, st, frameno: int) -> _Instance:
        frames = st.frames
        starts = tuple(self.cfg.subprogs[frames[i].subprog] for i in range(frameno + 1))
        sites = tuple(frames[i + 1].call_pc() for i in range(frameno)) + (starts[-1],)
        return self._lookup(sites, starts)

    def reset_chain(self) -> None:
        self.cur = None

    # ---------------------------------------------------------------- marks
    def _read(self, inst: _Instance, frame: int, insn: int, mask: int) -> None:
        m = inst.masks(frame)
        i = insn - inst.lo
        mr = m[0][i]
        new = mr | mask
        if new != mr:
            if (new | m[3][i]) != m[3][i]:
                inst.updated = True
            m[0][i] = new

    def mark_read(self, st, frame: int, insn: int, mask: int) -> None:
        if self.cur is None:
            self.cur = self._instance(st, len(st.frames) - 1)
        self._read(self.cur, frame, insn, mask)

    def reset_write(self, st, insn: int) -> None:
        if self.cur is None:
            self.cur = self._instance(st, len(st.frames) - 1)
        self.winsn = insn
        self.wacc = None

    def mark_write(self, frame: int, mask: int) -> None:
        w = self.wacc
        if w is None:
            w = self.wacc = [0] * 8
        w[frame] |= mask

    def commit(self) -> None:
        self._commit(self.cur)

    def _commit(self, inst) -> None:
        if inst is None:
            return
        idx = self.winsn - inst.lo
        w = self.wacc
        seen = idx in inst.mw_set
        if w is None and (not seen or idx not in inst.mw_nonzero):
            inst.mw_set.add(idx)
            return
        nonzero = False
        for frame in range(len(inst.sites)):
            mask = w[frame] if w is not None else 0
            if mask == 0 and not seen:
                continue
            m = inst.masks(frame)
            old = m[1][idx]
            if seen:
                mask &= old
            if old != mask:
                m[1][idx] = mask
                inst.updated = True
            if old & ~mask:
                inst.dropped = True
            nonzero |= bool(mask)
        if nonzero:
            inst.mw_nonzero.add(idx)
        else:
            inst.mw_nonzero.discard(idx)
        inst.mw_set.add(idx)
        self.wacc = None

    # ---------------------------------------------------------------- dataflow
    def update(self, st) -> None:
        """bpf_update_live_stack: bring every chain of ``st`` up to date
        (innermost first, so callee effects reach the callers)."""
        self.cur = None
        for frame in range(len(st.frames) - 1, -1, -1):
            inst = self._instance(st, frame)
            if inst.updated:
                self._update_instance(inst)
                inst.updated = inst.dropped = False

    def _update_instance(self, inst: _Instance) -> None:
        lo, n = inst.lo, inst.n
        order = self.order[inst.starts[-1]]
        succs = self.succs
        if inst.dropped:
            for m in inst.frames:
                if m is not None:
                    m[2] = [0] * n
        for m in inst.frames:
            if m is None:
                continue
            may_read, must_write, mwa, live = m
            changed = True
            while changed:
                changed = False
                for pc in order:
                    ss = succs[pc]
                    if not ss:
                        continue
                    i = pc - lo
                    after, acc = 0, ALL
                    for s in ss:
                        j = s - lo
                        after |= live[j]
                        acc &= mwa[j]
                    acc |= must_write[i]
                    before = (after & ~must_write[i]) | may_read[i]
                    if before != live[i] or acc != mwa[i]:
                        live[i], mwa[i] = before, acc
                        changed = True
        depth = len(inst.sites) - 1
        if depth > 0:
            self._to_outer(inst, depth)

    def _to_outer(self, inst: _Instance, depth: int) -> None:
        """What the callee reads and always writes of its callers' frames,
        seen from its entry, happens at the call instruction."""
        sites, starts = inst.sites, inst.starts
        outer = self._lookup(sites[:depth - 1] + (starts[depth - 1],), starts[:depth])
        callsite = sites[depth - 1]
        saved = (self.winsn, self.wacc)
        self.winsn, self.wacc = callsite, None
        for frame in range(depth):
            m = inst.frames[frame]
            if m is None:
                continue
            self.mark_write(frame, m[2][0])
            self._read(outer, frame, callsite, m[3][0])
        self._commit(outer)
        self.winsn, self.wacc = saved

    # ---------------------------------------------------------------- queries
    def query_init(self, st) -> None:
        self.q = ([self._instance(st, f) for f in range(len(st.frames))], st.insn, self.cfg.calls_cb)

    def alive(self, frameno: int, spi: int) -> bool:
        """bpf_stack_slot_alive for the state given to query_init."""
        insts, insn, calls_cb = self.q
        top = insts[-1]
        if _live_before(top, insn, frameno, spi):
            return True
        for i in range(frameno, len(insts) - 1):
            callsite = top.sites[i]
            at = callsite if callsite in calls_cb else callsite + 1
            if _live_before(insts[i], at, frameno, spi):
                return True
        return False


def _live_before(inst: _Instance, insn: int, frameno: int, spi: int) -> bool:
    m = inst.frames[frameno] if frameno < len(inst.frames) else None
    if m is None:
        return False
    i = insn - inst.lo
    if not 0 <= i < inst.n:
        return False
    return bool(m[3][i] >> spi & 1)
