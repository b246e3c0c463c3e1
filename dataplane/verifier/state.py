"""Verifier state: call frames (registers + stack), acquired references and
the jump history since the last checkpoint.  The comparisons state pruning
uses (states_equal and friends, at the kernel's three levels) are native:
equiv.pyx reads these classes' slots directly.

Stack slots are 8-byte units indexed like the kernel's ``spi``; a slot is an
immutable ``(types, spilled)`` pair where ``types`` has one char per byte
(index i is the kernel's slot_type[i]): ``?`` invalid, ``r`` spilled
register, ``m`` misc data, ``0`` known zero.

Precision (the kernel's ``reg->precise``) only matters in checkpoints, so it
lives in the checkpoint's frames as bit masks (``prec``: registers,
``sprec``: spilled stack slots) rather than in the register objects, which
copies share (copy on write).
"""
from __future__ import annotations

from dataplane.verifier.hist import Hist  # noqa: F401  (jump history entries: native)
from dataplane.verifier.reg import STACK, Reg, scalar_unknown

MAX_BPF_STACK = 512
INVALID_SLOT = ("????????", None)
NOT_EXACT, EXACT, RANGE_WITHIN = 0, 1, 2     # the kernel's enum exact_level (equiv.pyx)


class Frame:
    __slots__ = ("regs", "stack", "frameno", "subprog", "callsite", "depth", "prec", "sprec")

    def __init__(self, frameno: int, subprog: int, callsite: int):
        self.regs = [Reg() for _ in range(11)]
        r10 = self.regs[10]
        r10.t, r10.frame = STACK, frameno
        self.stack: dict[int, tuple] = {}
        self.frameno, self.subprog, self.callsite = frameno, subprog, callsite
        self.depth = 0  # deepest stack byte touched (positive)
        self.prec = 0   # checkpoints: registers marked precise (bit i: r<i>)
        self.sprec = 0  # checkpoints: spilled stack slots marked precise (bit spi)

    def copy(self) -> "Frame":
        f = Frame.__new__(Frame)
        # Reg objects are never edited in place once in a state (writers
        # replace them), so copies share them: copy on write
        f.regs = list(self.regs)
        f.stack = dict(self.stack)
        f.frameno, f.subprog, f.callsite, f.depth = self.frameno, self.subprog, self.callsite, self.depth
        f.prec = f.sprec = 0    # a copy starts imprecise (mark_all_scalars_imprecise)
        return f

    def call_pc(self) -> int:
        """The instruction that created this frame (callbacks store -(pc+1))."""
        cs = self.callsite
        return -cs - 1 if cs < 0 else cs


class State:
    __slots__ = ("frames", "refs", "parent", "branches", "insn", "active_lock", "active_rcu", "exact", "first_insn",
                 "last_insn", "hist", "miss", "hit", "cleaned", "equal_state", "evicted", "cb_unroll")

    def __init__(self):
        self.frames: list[Frame] = []
        self.refs: dict[int, int] = {}   # ref id -> insn that acquired it, in acquisition order
        self.parent = None               # last checkpoint on this path
        self.branches = 0
        self.insn = 0                    # instruction being processed (checkpoints: where taken)
        self.active_lock = 0
        self.active_rcu = 0              # inside bpf_rcu_read_lock (rcu.py)
        self.exact = None
        self.first_insn = 0              # first instruction since the parent checkpoint
        self.last_insn = -1              # instruction processed before self.insn
        self.hist: list = []             # Hist entries since the parent checkpoint
        self.miss = self.hit = 0
        self.cleaned = False
        self.equal_state = None          # backedge copies: the checkpoint they matched
        self.evicted = False
        self.cb_unroll = 0               # callback iterations queued on this path (callback_unroll_depth)

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> "State":
        s = State.__new__(State)
        s.frames = [f.copy() for f in self.frames]
        s.refs = dict(self.refs)
        s.parent, s.branches, s.insn, s.active_lock = self.parent, self.branches, self.insn, self.active_lock
        s.active_rcu = self.active_rcu
        s.cb_unroll = self.cb_unroll
        s.first_insn, s.last_insn, s.hist = self.first_insn, self.last_insn, list(self.hist)
        s.exact = s.equal_state = None
        s.miss = s.hit = 0
        s.cleaned = s.evicted = False
        return s

    def all_regs(self):
        """Every register and spilled register of every frame (for id-wide updates)."""
        for f in self.frames:
            yield from f.regs
            for spi, (types, sp) in f.stack.items():
                if sp is not None:
                    yield sp

    def update_regs(self, fn) -> None:
        """Apply ``fn(reg) -> Reg | None`` to every register of every frame and
        to every spilled register (the kernel's bpf_for_each_reg_in_vstate)."""
        for f in self.frames:
            for i, x in enumerate(f.regs):
                y = fn(x)
                if y is not None:
                    f.regs[i] = y
        self.update_spills(fn)

    def update_spills(self, fn) -> None:
        """Apply ``fn(reg) -> Reg | None`` to spilled regs, replacing slots (they are shared)."""
        for f in self.frames:
            for spi, (types, sp) in list(f.stack.items()):
                if sp is not None:
                    nr = fn(sp)
                    if nr is not None:
                        f.stack[spi] = (types, nr)


def unknown_from_stack() -> Reg:
    return scalar_unknown()
