"""Verifier state: call frames (registers + stack), acquired references, and
the comparison used for pruning (the kernel's states_equal / regsafe /
stacksafe) and for infinite-loop detection (exact equality).

Stack slots are 8-byte units indexed like the kernel's ``spi``; a slot is an
immutable ``(types, spilled)`` pair where ``types`` has one char per byte:
``?`` invalid, ``r`` spilled register, ``m`` misc data, ``0`` known zero.
"""
from __future__ import annotations

from dataplane.verifier import scalar
from dataplane.verifier.reg import (NOT_INIT, PKT, PKT_META, SCALAR, STACK, Reg,
                                    scalar_unknown)

MAX_BPF_STACK = 512
INVALID_SLOT = ("????????", None)


class Frame:
    __slots__ = ("regs", "stack", "frameno", "subprog", "callsite", "depth")

    def __init__(self, frameno: int, subprog: int, callsite: int):
        self.regs = [Reg() for _ in range(11)]
        r10 = self.regs[10]
        r10.t, r10.frame = STACK, frameno
        self.stack: dict[int, tuple] = {}
        self.frameno, self.subprog, self.callsite = frameno, subprog, callsite
        self.depth = 0  # deepest stack byte touched (positive)

    def copy(self) -> "Frame":
        f = Frame.__new__(Frame)
        # Reg objects are never edited in place once in a state (writers
        # replace them), so copies share them: copy on write
        f.regs = list(self.regs)
        f.stack = dict(self.stack)
        f.frameno, f.subprog, f.callsite, f.depth = self.frameno, self.subprog, self.callsite, self.depth
        return f


class State:
    __slots__ = ("frames", "refs", "parent", "branches", "insn", "active_lock", "exact")

    def __init__(self):
        self.frames: list[Frame] = []
        self.refs: dict[int, int] = {}   # ref id -> insn that acquired it
        self.parent = None               # last checkpoint on this path
        self.branches = 0
        self.insn = 0
        self.active_lock = 0

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> "State":
        s = State.__new__(State)
        s.frames = [f.copy() for f in self.frames]
        s.refs = dict(self.refs)
        s.parent, s.branches, s.insn, s.active_lock = self.parent, 0, self.insn, self.active_lock
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

    def exact_key(self) -> tuple:
        return (tuple((tuple(r.key() for r in f.regs[:10]),
                       tuple(sorted((k, t, sp.key() if sp else None) for k, (t, sp) in f.stack.items())))
                      for f in self.frames), tuple(sorted(self.refs.values())))


# ------------------------------------------------------------------ pruning

def _check_ids(old_id: int, new_id: int, idmap: dict) -> bool:
    if not old_id and not new_id:
        return True
    if not old_id or not new_id:
        return False
    seen = idmap.get(old_id)
    if seen is None:
        idmap[old_id] = new_id
        return True
    return seen == new_id


def regsafe(old: Reg, new: Reg, idmap: dict) -> bool:
    t = old.t
    if t == NOT_INIT:
        return True
    if new.t != t:
        return False
    if old is new:   # shared by copy on write: equal, only ids must map consistently
        return _check_ids(old.id, old.id, idmap) and _check_ids(old.ref, old.ref, idmap)
    if old.t == SCALAR:
        if old.id and not _check_ids(old.id, new.id, idmap):
            return False
        return scalar.contains(old.bounds(), new.bounds())
    if (old.off != new.off or old.map != new.map or old.msize != new.msize
            or old.frame != new.frame or old.btf != new.btf or old.ringbuf != new.ringbuf):
        return False
    if old.t in (PKT, PKT_META) and new.rng < old.rng:
        return False
    if not scalar.contains(old.bounds(), new.bounds()):
        return False
    return _check_ids(old.id, new.id, idmap) and _check_ids(old.ref, new.ref, idmap)


def _types_ok(otypes: str, ntypes: str, nsp) -> bool:
    for i in range(8):
        o = otypes[i]
        n = ntypes[i]
        if o == "?" or o == "m":
            # Privileged programs may read uninitialised stack as
            # unknown data, so misc subsumes everything but spilled
            # pointers (which a fill would turn back into a pointer).
            if n == "r" and nsp is not None and nsp.t != SCALAR:
                return False
            continue
        if o == "0" and n == "0":
            continue
        if o != n:
            return False
    return True


def _stacksafe(old: Frame, new: Frame, idmap: dict) -> bool:
    nstack = new.stack
    for spi, oslot in old.stack.items():
        nslot = nstack.get(spi, INVALID_SLOT)
        otypes, osp = oslot
        if nslot is oslot and (osp is None or (not osp.id and not osp.ref)):
            continue    # slots are immutable and shared by copies: same slot, same facts
        ntypes, nsp = nslot
        # byte-wise equal kinds always subsume
        if otypes != ntypes and not _types_ok(otypes, ntypes, nsp):
            return False
        if osp is not None:
            if nsp is None or not regsafe(osp, nsp, idmap):
                return False
    return True


def states_equal(old: State, new: State, live_top: int) -> bool:
    if len(old.frames) != len(new.frames) or old.active_lock != new.active_lock:
        return False
    if len(old.refs) != len(new.refs):
        return False
    idmap: dict = {}
    top = len(old.frames) - 1
    for fi, (fo, fn) in enumerate(zip(old.frames, new.frames)):
        if fo.callsite != fn.callsite:
            return False
        live = live_top if fi == top else 0x7FF
        for i in range(10):
            if live >> i & 1 and not regsafe(fo.regs[i], fn.regs[i], idmap):
                return False
        if not _stacksafe(fo, fn, idmap):
            return False
    # Every reference the old state held must correspond to one the new holds.
    for oid in old.refs:
        if oid in idmap and idmap[oid] not in new.refs:
            return False
    return True


def unknown_from_stack() -> Reg:
    return scalar_unknown()
