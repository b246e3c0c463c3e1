"""Open-coded iterators (struct bpf_iter_<type> on the stack) as the
kernel's verifier tracks them: process_iter_arg, mark_stack_slots_iter /
unmark_stack_slots_iter, process_iter_next_call with widen_imprecise_scalars,
iter_active_depths_differ.  The kfuncs are bpf_iter_num_new / _next /
_destroy (abi/kfuncs.py KF_ITER_*).

Stack representation (state.py's per-byte slot types): every byte of an
iterator's slots is ``I``; the first slot (at the iterator's address, spi)
holds a ``Reg(ITER)`` whose ``ref`` is the iterator's reference (acquired
by new, released by destroy: a forgotten destroy is an "Unreleased
reference" at exit), ``btf`` its type ("num"), ``msize`` its state (ACTIVE
or DRAINED) and ``rng`` its depth, the number of next() calls assumed to
have returned an element on this path.  State comparison (equiv.pyx) looks
at type, state and reference, never at the depth -- otherwise a loop could
never converge; the depth only keeps the infinite-loop check from firing
between iterations that look alike.

bpf_iter_<type>_next() forks: the current path continues with the iterator
DRAINED and r0 = NULL (the loop's exit), the queued one with it ACTIVE,
depth + 1, r0 = the element; at the next() call (a forced checkpoint,
cfg.iter_next) a state equal, by range, to one still being explored, with
the iterator ACTIVE, closes the loop (visit.pyx).  Scalars that changed
since the previous visit of that next() on this path and are not precise
are widened to unknown, so counters do not keep states apart forever.
"""
from __future__ import annotations

from dataplane.abi.kfuncs import ITER_SLOTS, KF_ITER_DESTROY, KF_ITER_NEW, KF_ITER_NEXT
from dataplane.verifier import scalar
from dataplane.verifier.reg import (ITER, MEM, MEM_OR_NULL, MEM_RDONLY, SCALAR, STACK, Reg, ptr, scalar_const,
                                    scalar_unknown)
from dataplane.verifier.state import INVALID_SLOT

SLOT = "I" * 8
ACTIVE, DRAINED = 1, 2


def _c_div8(x: int) -> int:
    """C's truncating x / 8 (the kernel's __get_spi on a positive offset)."""
    return -((-x) // 8) if x < 0 else x // 8


def _spi(v, r: Reg, nr_slots: int) -> int | None:
    """stack_slot_obj_get_spi for "iter": None after printing why."""
    if not r.is_const():
        v.verbose("iter has to be at a constant offset")
        return None
    off = r.off + scalar.to_signed(r.val, 64)
    spi = _c_div8(-off - 1)
    if off % 8 or spi + 1 < nr_slots:
        v.verbose(f"cannot pass in iter at an offset={off}")
        return None
    return spi


def _valid_init(v, st, r: Reg, itype: str, nr: int):
    """is_iter_reg_valid_init: (spi, the ITER reg) or None."""
    spi = _spi(v, r, nr)
    if spi is None:
        return None
    stack = st.frames[r.frame].stack
    for i in range(nr):
        types, sp = stack.get(spi - i, INVALID_SLOT)
        if types != SLOT or sp is None or sp.t != ITER or sp.btf != itype:
            return None
        if (i == 0) != bool(sp.ref):
            return None
    return spi, stack[spi][1]


def _valid_uninit(v, st, r: Reg, nr: int) -> bool:
    """is_iter_reg_valid_uninit: no byte of the slots is an iterator's."""
    spi = _spi(v, r, nr)
    if spi is None:
        return False
    stack = st.frames[r.frame].stack
    return all("I" not in stack.get(spi - i, INVALID_SLOT)[0] for i in range(nr))


def arg(v, st, pc: int, regno: int, r: Reg, k, itype: str):
    """process_iter_arg for the iterator argument of kfunc ``k``: the ITER
    reg it refers to (None for new(), which makes it)."""
    if r.t != STACK:
        v.fail(f"arg#{regno - 1} expected pointer to an iterator on stack")
    nr = ITER_SLOTS[itype]
    if k.flags & KF_ITER_NEW:
        if not _valid_uninit(v, st, r, nr):
            v.fail(f"expected uninitialized iter_{itype} as arg #{regno - 1}")
        # (stack liveness: the writes below are committed by the main loop,
        # which wraps a call's first visit; every visit of new() writes them)
        for i in range(0, nr * 8, 8):
            v.check_mem_access(st, pc, regno, r, i, 8, write=True, value=scalar_unknown())
        spi = _spi(v, r, nr)
        frame = st.frames[r.frame]
        rid = v.acquire_reference(st, pc)
        for i in range(nr):
            it = ptr(ITER, btf=itype)
            it.ref = rid if i == 0 else 0
            it.msize = ACTIVE
            frame.stack[spi - i] = (SLOT, it)
        return None
    got = _valid_init(v, st, r, itype, nr)
    if got is None:
        v.fail(f"expected an initialized iter_{itype} as arg #{regno - 1}")
    spi, it = got
    v.live.mark_read(st, r.frame, pc, ((1 << nr) - 1) << (spi - nr + 1))
    if k.flags & KF_ITER_DESTROY:
        v.release_reference(st, it.ref)
        frame = st.frames[r.frame]
        for i in range(nr):
            frame.stack[spi - i] = INVALID_SLOT
    return (r.frame, spi, it)


def next_ret(v, it: Reg) -> Reg:
    """What bpf_iter_num_next returns: PTR_TO_MEM | MEM_RDONLY | MAYBE_NULL
    of an int, tied to the iterator's reference (gone with destroy)."""
    r = ptr(MEM_OR_NULL, msize=4, btf=MEM_RDONLY, id=v.new_id())
    r.ref = it.ref
    return r


def _with(it: Reg, state: int, depth: int) -> Reg:
    n = it.copy()
    n.msize, n.rng = state, depth
    return n


def process_next(v, st, pc: int, where) -> None:
    """process_iter_next_call: fork the ACTIVE continuation, go on DRAINED."""
    fno, spi, it = where
    if it.msize == ACTIVE:
        prev = find_prev_entry(v, st, pc, skip=st.parent)
        q = st.copy()
        q.frames[fno].stack[spi] = (SLOT, _with(it, ACTIVE, it.rng + 1))
        if prev is not None:
            widen(prev, q)
        r0 = q.cur.regs[0].copy()
        r0.t = MEM
        q.cur.regs[0] = r0
        v.push_branch(q, pc + 1, pc)
    st.frames[fno].stack[spi] = (SLOT, _with(it, DRAINED, it.rng))
    st.cur.regs[0] = scalar_const(0)


def find_prev_entry(v, st, pc: int, skip):
    """find_prev_entry: the previous checkpoint at ``pc`` on this path (the
    newest kept one still being explored; ``skip``: the one just taken at a
    next() call, which is this very state)."""
    lst = v.explored.get((pc, st.cur.callsite))
    if not lst:
        return None
    for sl in reversed(lst):
        if sl is skip or not sl.branches or not v._same_callsites(sl, st):
            continue
        return sl
    return None


def _same_scalar(a: Reg, b: Reg) -> bool:
    """scalars_exact_for_widen: equal up to the ids."""
    return (a.t == b.t and a.off == b.off and a.vo == b.vo and a.umin == b.umin and a.umax == b.umax
            and a.smin == b.smin and a.smax == b.smax and a.u32min == b.u32min and a.u32max == b.u32max
            and a.s32min == b.s32min and a.s32max == b.s32max)


def _widen_one(old: Reg, cur: Reg, precise: bool):
    if old.t != SCALAR or cur.t != SCALAR or precise or old is cur or _same_scalar(old, cur):
        return None
    return scalar_unknown()


def widen(old, cur) -> None:
    """widen_imprecise_scalars: ``old`` is a checkpoint (its precision marks
    are in prec/sprec); the current state's own marks were cleared when its
    checkpoint at this next() was taken."""
    for fo, fc in zip(old.frames, cur.frames):
        for i in range(11):
            w = _widen_one(fo.regs[i], fc.regs[i], bool(fo.prec >> i & 1))
            if w is not None:
                fc.regs[i] = w
        for spi, (ot, osp) in fo.stack.items():
            ct, csp = fc.stack.get(spi, INVALID_SLOT)
            if ot[7] != "r" or ct[7] != "r" or osp is None or csp is None:
                continue
            w = _widen_one(osp, csp, bool(fo.sprec >> spi & 1))
            if w is not None:
                fc.stack[spi] = (ct, w)


def active_depths_differ(old, cur) -> bool:
    """iter_active_depths_differ: an ACTIVE iterator of ``old`` is at another
    depth in ``cur`` (two iterations that look alike are not a loop); and
    the infinite-loop check's callback_unroll_depth comparison: states of
    different callback iterations are not a loop either."""
    if old.cb_unroll != cur.cb_unroll:
        return True
    for fo, fc in zip(old.frames, cur.frames):
        for spi, (ot, osp) in fo.stack.items():
            if ot[0] != "I" or osp is None or osp.msize != ACTIVE:
                continue
            csp = fc.stack.get(spi, INVALID_SLOT)[1]
            if csp is None or csp.rng != osp.rng:
                return True
    return False


def active_at_r1(st) -> bool:
    """At a next() call: the iterator its r1 points to is ACTIVE."""
    r = st.cur.regs[1]
    if r.t != STACK or not r.is_const():
        return False
    off = r.off + scalar.to_signed(r.val, 64)
    sp = st.frames[r.frame].stack.get(_c_div8(-off - 1), INVALID_SLOT)[1]
    return sp is not None and sp.t == ITER and sp.msize == ACTIVE


def fmt_slot(sp: Reg) -> str:
    """print_verifier_state's iterator slot."""
    state = {ACTIVE: "active", DRAINED: "drained"}.get(sp.msize, "invalid")
    return f"iter_{sp.btf}(ref_id={sp.ref},state={state},depth={sp.rng})"


def is_next(k) -> bool:
    return bool(k.flags & KF_ITER_NEXT)
