"""Precision tracking (the kernel's mark_chain_precision): scalars start
imprecise, and state pruning ignores imprecise scalars of a checkpoint.
When an instruction relies on a scalar's exact range (a branch it decides,
a pointer offset, a helper's size argument, ...), the path is walked back
instruction by instruction, through the jump history of the current state
and of each parent checkpoint, and every register or spilled stack slot the
value was computed from is marked precise in those checkpoints.

backtrack_insn and the walk follow kernel/bpf/verifier.c step by step: what
gets marked decides which later states are pruned, so it decides the
processed-instruction count (and the 1M complexity limit) too.
"""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.verifier.cfg import SYNC_CALLBACK_HELPERS
from dataplane.verifier.reg import SCALAR

# jump history flags (INSN_F_*): frame number and stack slot of a spill/fill
FRAMENO_MASK = 0x7
SPI_SHIFT = 3
SPI_MASK = 0x3F
STACK_ACCESS = 1 << 9
DST_REG_STACK = 1 << 10
SRC_REG_STACK = 1 << 11
ARGS = 0b111110          # r1-r5
MAX_CALL_FRAMES = 8


def stack_flags(frameno: int, spi: int) -> int:
    return STACK_ACCESS | (spi << SPI_SHIFT) | frameno


MEMO_LIMIT = 200_000       # cached segment walks kept (cleared past it)
_EMPTY, _UNSUP = "empty", "unsupported"


class Unsupported(Exception):
    """backtrack_insn's -ENOTSUPP: fall back to marking every scalar precise."""


class Backtrack:
    """Registers and stack slots that still need precision, per frame."""
    __slots__ = ("frame", "regs", "stack")

    def __init__(self, frame: int):
        self.frame = frame
        self.regs = [0] * MAX_CALL_FRAMES
        self.stack = [0] * MAX_CALL_FRAMES

    def empty(self) -> bool:
        regs, stack = self.regs, self.stack
        for i in range(self.frame + 1):
            if regs[i] or stack[i]:
                return False
        return True


def _sync_linked(bt: Backtrack, hist) -> None:
    """bt_sync_linked_regs: if one register of a linked set needs precision,
    all of them do (a branch refined them together)."""
    if hist is None or not hist.linked:
        return
    linked = hist.linked
    for fr, is_reg, n in linked:
        if (bt.regs[fr] >> n & 1) if is_reg else (bt.stack[fr] >> n & 1):
            break
    else:
        return
    for fr, is_reg, n in linked:
        if is_reg:
            bt.regs[fr] |= 1 << n
        else:
            bt.stack[fr] |= 1 << n


class PrecisionMixin:
    # ---------------------------------------------------------------- one insn
    def _backtrack_insn(self, idx: int, subseq: int, hist, bt: Backtrack) -> None:
        insn = self.prog[idx]
        if insn is None:          # second half of an lddw
            return
        _sync_linked(bt, hist)
        fr = bt.frame
        regs = bt.regs
        cls = insn.opcode & 7
        dreg, sreg = insn.dst, insn.src
        if cls == op.BPF_ALU or cls == op.BPF_ALU64:
            if not regs[fr] >> dreg & 1:
                return
            o = insn.opcode & 0xF0
            if o == op.BPF_END or o == op.BPF_NEG:
                return
            if o == op.BPF_MOV:
                regs[fr] &= ~(1 << dreg)
                if insn.opcode & op.BPF_X and sreg != 10:
                    regs[fr] |= 1 << sreg
            elif insn.opcode & op.BPF_X and sreg != 10:
                regs[fr] |= 1 << sreg
            return
        if cls == op.BPF_LDX:
            if not regs[fr] >> dreg & 1:
                return
            regs[fr] &= ~(1 << dreg)
            if hist is None or not hist.flags & STACK_ACCESS:
                return
            flags = hist.flags
            bt.stack[flags & FRAMENO_MASK] |= 1 << ((flags >> SPI_SHIFT) & SPI_MASK)
            return
        if cls == op.BPF_STX or cls == op.BPF_ST:
            if regs[fr] >> dreg & 1:
                raise Unsupported   # pointer subtraction through memory
            if hist is None or not hist.flags & STACK_ACCESS:
                return
            flags = hist.flags
            sfr, spi = flags & FRAMENO_MASK, (flags >> SPI_SHIFT) & SPI_MASK
            if not bt.stack[sfr] >> spi & 1:
                return
            bt.stack[sfr] &= ~(1 << spi)
            if cls == op.BPF_STX:
                regs[fr] |= 1 << sreg
            return
        if cls == op.BPF_JMP or cls == op.BPF_JMP32:
            o = insn.opcode & 0xF0
            if insn.is_local_call:
                # the call that entered the subprogram we are leaving: only
                # r1-r5 may still be wanted, they are the caller's
                if regs[fr] & ~ARGS or bt.stack[fr] or fr == 0:
                    raise Unsupported
                for i in range(1, 6):
                    if regs[fr] >> i & 1:
                        regs[fr] &= ~(1 << i)
                        regs[fr - 1] |= 1 << i
                bt.frame = fr - 1
                return
            if insn.is_helper_call and insn.imm in SYNC_CALLBACK_HELPERS and idx != subseq - 1:
                # back from a callback to the helper that called it
                if regs[fr] & ~ARGS or bt.stack[fr] or fr == 0:
                    raise Unsupported
                regs[fr] &= ~ARGS
                bt.frame = fr - 1
                return
            if o == op.BPF_CALL:
                if insn.src == op.BPF_PSEUDO_KFUNC_CALL and insn.imm == 0:
                    raise Unsupported
                regs[fr] &= ~1
                if regs[fr] & ARGS:
                    raise Unsupported
            elif o == op.BPF_EXIT:
                if subseq >= 0 and subseq in self.cfg.calls_cb:
                    regs[fr] &= ~ARGS
                if regs[fr] & ARGS:
                    raise Unsupported
                prev = self.prog[subseq - 1] if subseq - 1 >= 0 else None
                r0 = prev is not None and prev.is_local_call and regs[fr] & 1
                regs[fr] &= ~1
                if fr == MAX_CALL_FRAMES - 1:
                    raise Unsupported
                bt.frame = fr + 1
                if r0:
                    regs[fr + 1] |= 1
                return
            elif insn.opcode & op.BPF_X and o != op.BPF_JA:
                if not (regs[fr] >> dreg & 1 or regs[fr] >> sreg & 1):
                    return
                flags = hist.flags if hist is not None else 0
                if not flags & SRC_REG_STACK:
                    regs[fr] |= 1 << sreg
                if not flags & DST_REG_STACK:
                    regs[fr] |= 1 << dreg
        elif cls == op.BPF_LD:
            if not regs[fr] >> dreg & 1:
                return
            regs[fr] &= ~(1 << dreg)
            if insn.mode in (op.BPF_IND, op.BPF_ABS):
                raise Unsupported
        _sync_linked(bt, hist)

    # ---------------------------------------------------------------- the walk
    def mark_precise(self, st, regno: int) -> None:
        """mark_chain_precision(regno) of the current state's innermost frame."""
        if regno < 0:
            return
        if st.frames[-1].regs[regno].t != SCALAR:
            return
        bt = Backtrack(len(st.frames) - 1)
        bt.regs[bt.frame] = 1 << regno
        self._mark_chain(st, bt)

    def mark_precise_slot(self, st, frameno: int, spi: int) -> None:
        bt = Backtrack(len(st.frames) - 1)
        bt.stack[frameno] = 1 << spi
        self._mark_chain(st, bt)

    def _mark_chain(self, start, bt: Backtrack) -> bool:
        """__mark_chain_precision: True when some checkpoint got a new mark."""
        self.precision_walks += 1
        if bt.empty():
            return False
        try:
            return self._walk(start, bt)
        except Unsupported:
            self._mark_all_precise(start)
            return True

    def _walk(self, start, bt: Backtrack) -> bool:
        st = start
        first_idx, last_idx, subseq = st.first_insn, st.insn, -1
        skip_first = True
        changed = False
        memo = self.bt_memo
        if len(memo) > MEMO_LIMIT:
            memo.clear()
        while True:
            if last_idx < 0:
                raise Unsupported
            hist = st.hist
            h = len(hist)
            i = last_idx
            seen = []     # (entry, masks) walked through in this segment: they get its outcome
            while True:
                if skip_first:
                    skip_first = False
                else:
                    ent = hist[h - 1] if h and hist[h - 1].idx == i else None
                    if ent is not None:
                        f = bt.frame
                        key = ((ent, bt.regs[0], bt.stack[0]) if f == 0 else
                               (ent, f, tuple(bt.regs[:f + 1]), tuple(bt.stack[:f + 1])))
                        out = memo.get(key)
                        if out is not None:
                            self._remember(seen, out)
                            if out is _EMPTY:
                                return changed
                            if out is _UNSUP:
                                raise Unsupported
                            bt.frame, regs, stack = out
                            bt.regs[:len(regs)] = regs
                            bt.stack[:len(stack)] = stack
                            break
                        seen.append(key)
                    try:
                        self._backtrack_insn(i, subseq, ent, bt)
                    except Unsupported:
                        self._remember(seen, _UNSUP)
                        raise
                if (not (bt.regs[0] or bt.stack[0])) if bt.frame == 0 else bt.empty():
                    self._remember(seen, _EMPTY)
                    return changed
                subseq = i
                # get_prev_insn_idx
                if i == st.first_insn and (h == 0 or (h == 1 and hist[0].idx == i)):
                    if seen:
                        f = bt.frame
                        self._remember(seen, (f, tuple(bt.regs[:f + 1]), tuple(bt.stack[:f + 1])))
                    break
                if h and hist[h - 1].idx == i:
                    i = hist[h - 1].prev
                    h -= 1
                else:
                    i -= 1
            st = st.parent
            if st is None:
                break
            frames = st.frames
            for fr in range(bt.frame, -1, -1):
                if fr >= len(frames):
                    raise Unsupported
                f = frames[fr]
                m = bt.regs[fr]
                if m:
                    regs = f.regs
                    for r in range(11):
                        if m >> r & 1:
                            if regs[r].t != SCALAR or f.prec >> r & 1:
                                m &= ~(1 << r)
                            else:
                                f.prec |= 1 << r
                                changed = True
                    bt.regs[fr] = m
                m = bt.stack[fr]
                if m:
                    if m >> ((f.depth + 7) // 8):
                        raise Unsupported
                    stack = f.stack
                    for spi in range(64):
                        if m >> spi & 1:
                            types, sp = stack.get(spi, ("????????", None))
                            if types[7] != "r" or sp is None or sp.t != SCALAR or f.sprec >> spi & 1:
                                m &= ~(1 << spi)
                            else:
                                f.sprec |= 1 << spi
                                changed = True
                    bt.stack[fr] = m
            if bt.empty():
                return changed
            subseq = first_idx
            last_idx, first_idx = st.last_insn, st.first_insn
        if not bt.empty():
            raise Unsupported
        return changed

    def _remember(self, seen: list, out) -> None:
        """A walk from an entry with given masks always ends the same way
        (backtracking reads instructions and history, not values): cache
        it for the next walk through that entry (a loop walks the same
        iterations again and again)."""
        if seen:
            memo = self.bt_memo
            for key in seen:
                memo[key] = out

    def _mark_all_precise(self, start) -> None:
        """mark_all_scalars_precise: the big hammer, on every checkpoint of
        the path (the current state's marks do not matter)."""
        st = start.parent
        while st is not None:
            for f in st.frames:
                for r in range(10):
                    if f.regs[r].t == SCALAR:
                        f.prec |= 1 << r
                for spi, (types, sp) in f.stack.items():
                    if types[7] == "r" and sp is not None and sp.t == SCALAR:
                        f.sprec |= 1 << spi
            st = st.parent

    def propagate_precision(self, old, cur) -> bool:
        """A pruned state inherits the precision its equivalent checkpoint
        needed: mark those registers and slots back along the current path."""
        bt = Backtrack(len(cur.frames) - 1)
        for fr, f in enumerate(old.frames):
            p = f.prec
            if p:
                regs = f.regs
                for r in range(10):
                    if p >> r & 1 and regs[r].t == SCALAR:
                        bt.regs[fr] |= 1 << r
            sp_mask = f.sprec
            if sp_mask:
                for spi, (types, sp) in f.stack.items():
                    if sp_mask >> spi & 1 and types[7] == "r" and sp is not None and sp.t == SCALAR:
                        bt.stack[fr] |= 1 << spi
        return self._mark_chain(cur, bt)
