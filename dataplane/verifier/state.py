"""Verifier state: call frames (registers + stack), acquired references, and
the comparisons state pruning uses (the kernel's states_equal / regsafe /
stacksafe / refsafe at its three levels: NOT_EXACT for finished states,
RANGE_WITHIN inside loops whose precision marks are not final yet, EXACT
for infinite-loop detection).

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

from dataplane.verifier import scalar, tnum
from dataplane.verifier.reg import (MAP_VALUE, MAP_VALUE_OR_NULL, MEM, MEM_OR_NULL, NOT_INIT, PKT, PKT_META,
                                    SCALAR, STACK, Reg, scalar_unknown)

MAX_BPF_STACK = 512
INVALID_SLOT = ("????????", None)
NOT_EXACT, EXACT, RANGE_WITHIN = 0, 1, 2
_RANGE_PTRS = (MAP_VALUE, MAP_VALUE_OR_NULL, MEM, MEM_OR_NULL)
_UNBOUND = scalar_unknown()      # what a load from all-misc stack bytes gives (never precise)


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


class Hist:
    """One jump history entry (bpf_jmp_history_entry): instruction ``idx``
    was reached from ``prev``; ``flags``: stack slot of a spill/fill, stack
    pointers compared; ``linked``: scalars a branch refined together.
    Entries are shared by the states copied from one another (a copy
    extends the list, never edits an old entry), so an entry also names
    one position of one path: precision.py caches walks by it."""
    __slots__ = ("idx", "prev", "flags", "linked")

    def __init__(self, idx: int, prev: int, flags: int, linked):
        self.idx, self.prev, self.flags, self.linked = idx, prev, flags, linked


class State:
    __slots__ = ("frames", "refs", "parent", "branches", "insn", "active_lock", "exact", "first_insn",
                 "last_insn", "hist", "miss", "hit", "cleaned", "equal_state", "evicted")

    def __init__(self):
        self.frames: list[Frame] = []
        self.refs: dict[int, int] = {}   # ref id -> insn that acquired it, in acquisition order
        self.parent = None               # last checkpoint on this path
        self.branches = 0
        self.insn = 0                    # instruction being processed (checkpoints: where taken)
        self.active_lock = 0
        self.exact = None
        self.first_insn = 0              # first instruction since the parent checkpoint
        self.last_insn = -1              # instruction processed before self.insn
        self.hist: list = []             # Hist entries since the parent checkpoint
        self.miss = self.hit = 0
        self.cleaned = False
        self.equal_state = None          # backedge copies: the checkpoint they matched
        self.evicted = False

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    def copy(self) -> "State":
        s = State.__new__(State)
        s.frames = [f.copy() for f in self.frames]
        s.refs = dict(self.refs)
        s.parent, s.branches, s.insn, s.active_lock = self.parent, self.branches, self.insn, self.active_lock
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


# ------------------------------------------------------------------ ids

def check_ids(old_id: int, cur_id: int, idmap: dict) -> bool:
    """Old ids must map one to one onto current ids.  ``idmap`` holds
    old -> cur under the id and cur -> old under ~cur (ids are positive)."""
    if not old_id or not cur_id:
        return old_id == cur_id
    seen = idmap.get(old_id)
    if seen is not None:
        return seen == cur_id
    if ~cur_id in idmap:
        return False
    idmap[old_id] = cur_id
    idmap[~cur_id] = old_id
    return True


def check_scalar_ids(old_id: int, cur_id: int, idmap: dict) -> bool:
    """check_ids where an id of 0 stands for a fresh unique id: 0 vs 0 always
    matches, 0 vs an id matches unless that id is already tied elsewhere
    (and then ties it)."""
    if old_id and cur_id:
        return check_ids(old_id, cur_id, idmap)
    if not old_id and not cur_id:
        return True
    t = idmap.get(None, 1 << 62) + 1     # fresh temporaries, never equal to a real id
    idmap[None] = t
    if old_id:
        return check_ids(old_id, t, idmap)
    return check_ids(t, cur_id, idmap)


# ------------------------------------------------------------------ registers

def _same_fields(a: Reg, b: Reg) -> bool:
    """memcmp up to ``id``: everything but the ids and the frame number."""
    return (a.t == b.t and a.off == b.off and a.vo == b.vo and a.umin == b.umin and a.umax == b.umax
            and a.smin == b.smin and a.smax == b.smax and a.u32min == b.u32min and a.u32max == b.u32max
            and a.s32min == b.s32min and a.s32max == b.s32max and a.rng == b.rng and a.map == b.map
            and a.msize == b.msize and a.ringbuf == b.ringbuf and a.btf == b.btf)


def maybe_looping(old, cur) -> bool:
    """states_maybe_looping: the innermost frames' registers are the same,
    ids included (a memcmp in the kernel)."""
    if len(old.frames) != len(cur.frames):
        return False
    for a, b in zip(old.frames[-1].regs, cur.frames[-1].regs):
        if a is not b and not (_same_fields(a, b) and a.id == b.id and a.ref == b.ref):
            return False
    return True


def regs_exact(old: Reg, cur: Reg, idmap: dict) -> bool:
    return _same_fields(old, cur) and check_ids(old.id, cur.id, idmap) and check_ids(old.ref, cur.ref, idmap)


def _range_within(o: Reg, c: Reg) -> bool:
    return (o.umin <= c.umin and c.umax <= o.umax and o.smin <= c.smin and c.smax <= o.smax
            and o.u32min <= c.u32min and c.u32max <= o.u32max and o.s32min <= c.s32min
            and c.s32max <= o.s32max and tnum.contains(o.vo, c.vo))


def regsafe(old: Reg, cur: Reg, idmap: dict, exact: int, precise: bool) -> bool:
    """Old state's register safe implies current one safe.  ``precise``: the
    old register is marked precise (scalars only)."""
    if exact == EXACT:
        return regs_exact(old, cur, idmap)
    t = old.t
    if t == NOT_INIT and (exact == NOT_EXACT or cur.t == NOT_INIT):
        return True
    if cur.t != t:
        return False
    if t == SCALAR:
        if not precise and exact == NOT_EXACT:
            return True
        if old is cur:
            return check_scalar_ids(old.id, old.id, idmap)
        return _range_within(old, cur) and check_scalar_ids(old.id, cur.id, idmap)
    if old is cur:     # shared by copy on write: only the ids must map consistently
        return check_ids(old.id, old.id, idmap) and check_ids(old.ref, old.ref, idmap)
    if t in _RANGE_PTRS:
        return (old.off == cur.off and old.map == cur.map and old.msize == cur.msize
                and old.ringbuf == cur.ringbuf and old.btf == cur.btf and old.rng == cur.rng
                and _range_within(old, cur) and check_ids(old.id, cur.id, idmap)
                and check_ids(old.ref, cur.ref, idmap))
    if t == PKT or t == PKT_META:
        if old.rng > cur.rng or old.off != cur.off:
            return False
        if not check_ids(old.id, cur.id, idmap):
            return False
        return _range_within(old, cur)
    if t == STACK:
        return regs_exact(old, cur, idmap) and old.frame == cur.frame
    return regs_exact(old, cur, idmap)


# ------------------------------------------------------------------ stack

def _scalar_for_slot(types: str, sp):
    """scalar_reg_for_stack: a 64-bit spilled scalar, the unbound scalar for
    all-misc bytes (uninitialised bytes read as misc for privileged
    programs), else None."""
    if types[0] == "r":
        return sp if sp is not None and sp.t == SCALAR else None
    for c in types:
        if c != "m" and c != "?":
            return None
    return _UNBOUND


def _slot_safe(otypes: str, osp, ctypes: str, csp, idmap: dict, exact: int, oprec: bool, in_cur: bool) -> bool:
    """stacksafe's byte walk over one slot (the kernel's loop body for i in
    [8*spi, 8*spi+8)).  ``in_cur``: the slot is inside the current frame's
    allocated stack."""
    for i in range(8):
        o = otypes[i]
        if exact != NOT_EXACT and (not in_cur or o != ctypes[i]):
            return False
        if o == "?" or o == "m":
            continue
        if not in_cur:
            return False
        oreg = _scalar_for_slot(otypes, osp)
        creg = _scalar_for_slot(ctypes, csp) if oreg is not None else None
        if oreg is not None and creg is not None:
            return regsafe(oreg, creg, idmap, exact, oprec and oreg is osp)
        c = ctypes[i]
        if o != c:
            return False
        if i != 7:
            continue
        if o == "r":
            return regsafe(osp, csp, idmap, exact, oprec)
    return True


def stacksafe(old: Frame, cur: Frame, idmap: dict, exact: int) -> bool:
    cstack = cur.stack
    cur_slots = (cur.depth + 7) // 8
    if exact != NOT_EXACT and (old.depth + 7) // 8 > cur_slots:
        return False
    sprec = old.sprec
    for spi, oslot in old.stack.items():
        cslot = cstack.get(spi, INVALID_SLOT)
        otypes, osp = oslot
        if cslot is oslot and (osp is None or (not osp.id and not osp.ref)) and spi < cur_slots:
            continue    # slots are immutable and shared by copies: same slot, same facts
        if exact == NOT_EXACT and (otypes == "????????" or otypes == "mmmmmmmm"):
            continue
        if not _slot_safe(otypes, osp, cslot[0], cslot[1], idmap, exact, bool(sprec >> spi & 1),
                          spi < cur_slots):
            return False
    if exact != NOT_EXACT:
        # bytes the current frame has and the old one does not are not
        # compared by the kernel either (it walks the old stack)
        for spi, cslot in cstack.items():
            if spi not in old.stack and spi < (old.depth + 7) // 8 and cslot[0] != "????????":
                return False
    return True


# ------------------------------------------------------------------ states

def refsafe(old: State, cur: State, idmap: dict) -> bool:
    if len(old.refs) != len(cur.refs):
        return False
    ol, cl = old.active_lock, cur.active_lock
    if bool(ol) != bool(cl):
        return False
    if ol and (ol[0] != cl[0] or not check_ids(ol[1], cl[1], idmap)):
        return False
    for oid, cid in zip(old.refs, cur.refs):
        if not check_ids(oid, cid, idmap):
            return False
    return True


def states_equal(old: State, cur: State, live_in: list, exact: int) -> bool:
    """``live_in[pc]``: registers live before pc (the kernel's
    live_regs_before), looked up at each frame's instruction."""
    ofr, cfr = old.frames, cur.frames
    n = len(ofr)
    if n != len(cfr):
        return False
    idmap: dict = {}
    if (old.refs or cur.refs or old.active_lock or cur.active_lock) and not refsafe(old, cur, idmap):
        return False
    top = n - 1
    for fi in range(n):
        fo, fc = ofr[fi], cfr[fi]
        if fo.callsite != fc.callsite:
            return False
        live = live_in[old.insn if fi == top else ofr[fi + 1].call_pc()]
        prec = fo.prec
        oregs, cregs = fo.regs, fc.regs
        for i in range(11):
            if live >> i & 1 and not regsafe(oregs[i], cregs[i], idmap, exact, bool(prec >> i & 1)):
                return False
        if (fo.stack or (exact != NOT_EXACT and fc.stack)) and not stacksafe(fo, fc, idmap, exact):
            return False
    return True


def unknown_from_stack() -> Reg:
    return scalar_unknown()
