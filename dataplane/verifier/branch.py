"""Conditional jumps: branch prediction from ranges, range refinement on both
sides (reg_set_min_max), null checks of *_or_null pointers
(mark_ptr_or_null_regs) and packet range learning (try_match_pkt_pointers)."""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.verifier import scalar, tnum
from dataplane.verifier.reg import (OR_NULL, PKT, PKT_END, PKT_META, SCALAR, Reg, scalar_const,
                                    scalar_from)

NEG = {op.BPF_JEQ: op.BPF_JNE, op.BPF_JNE: op.BPF_JEQ, op.BPF_JGT: op.BPF_JLE, op.BPF_JLE: op.BPF_JGT,
       op.BPF_JGE: op.BPF_JLT, op.BPF_JLT: op.BPF_JGE, op.BPF_JSGT: op.BPF_JSLE,
       op.BPF_JSLE: op.BPF_JSGT, op.BPF_JSGE: op.BPF_JSLT, op.BPF_JSLT: op.BPF_JSGE,
       op.BPF_JSET: -op.BPF_JSET}
MAX_PACKET_OFF = 0xFFFF


def refine(o: int, a, b, w: int):
    """Bounds of (a, b) given that ``a <o> b`` holds; None if it cannot."""
    va, ua0, ua1, sa0, sa1 = a
    vb, ub0, ub1, sb0, sb1 = b
    if o == op.BPF_JEQ:
        vo = tnum.intersect(va, vb)
        if (va[0] ^ vb[0]) & ~(va[1] | vb[1]) & ((1 << w) - 1):
            return None
        r = (vo, max(ua0, ub0), min(ua1, ub1), max(sa0, sb0), min(sa1, sb1))
        r = scalar.sync(r, w)
        return None if r is None else (r, r)
    if o == op.BPF_JNE:
        if a[0][1] == 0 and b[0][1] == 0:
            return None if va[0] == vb[0] else (a, b)
        if b[0][1] == 0:
            a = _exclude(a, vb[0], w)
        elif a[0][1] == 0:
            b = _exclude(b, va[0], w)
        if a is None or b is None:
            return None
        return (a, b)
    if o == op.BPF_JSET:
        if b[0][1] == 0 and (va[0] & vb[0]) == 0 and ((va[0] | va[1]) & vb[0]) == 0:
            return None
        if b[0][1] == 0 and vb[0] and vb[0] & (vb[0] - 1) == 0:
            na = scalar.sync((tnum.tor(va, vb), ua0, ua1, sa0, sa1), w)
            return None if na is None else (na, b)
        return (a, b)
    if o == -op.BPF_JSET:   # a & b == 0
        if b[0][1] == 0:
            if va[0] & vb[0]:
                return None
            m = (1 << w) - 1
            na = scalar.sync((tnum.tand(va, (~vb[0] & m, 0)), ua0, ua1, sa0, sa1), w)
            return None if na is None else (na, b)
        return (a, b)
    if o == op.BPF_JGT:
        ua0, ub1 = max(ua0, ub0 + 1), min(ub1, ua1 - 1)
    elif o == op.BPF_JGE:
        ua0, ub1 = max(ua0, ub0), min(ub1, ua1)
    elif o == op.BPF_JLT:
        ua1, ub0 = min(ua1, ub1 - 1), max(ub0, ua0 + 1)
    elif o == op.BPF_JLE:
        ua1, ub0 = min(ua1, ub1), max(ub0, ua0)
    elif o == op.BPF_JSGT:
        sa0, sb1 = max(sa0, sb0 + 1), min(sb1, sa1 - 1)
    elif o == op.BPF_JSGE:
        sa0, sb1 = max(sa0, sb0), min(sb1, sa1)
    elif o == op.BPF_JSLT:
        sa1, sb0 = min(sa1, sb1 - 1), max(sb0, sa0 + 1)
    elif o == op.BPF_JSLE:
        sa1, sb0 = min(sa1, sb1), max(sb0, sa0)
    if ua0 > ua1 or ub0 > ub1 or sa0 > sa1 or sb0 > sb1:
        return None
    na = scalar.sync((va, ua0, ua1, sa0, sa1), w)
    nb = scalar.sync((vb, ub0, ub1, sb0, sb1), w)
    if na is None or nb is None:
        return None
    return (na, nb)


def _exclude(a, v: int, w: int):
    vo, u0, u1, s0, s1 = a
    sv = scalar.to_signed(v, w)
    if u0 == v:
        u0 += 1
    if u1 == v:
        u1 -= 1
    if s0 == sv:
        s0 += 1
    if s1 == sv:
        s1 -= 1
    if u0 > u1 or s0 > s1:
        return None
    return scalar.sync((vo, u0, u1, s0, s1), w)


def _widen32(full, new32):
    """Fold refined 32-bit bounds back into a 64-bit register."""
    vo, umin, umax, smin, smax = full
    if umin >> 32 == umax >> 32:
        hi = umin & ~scalar.M32
        nb = (tnum.with_subreg(vo, new32[0]), hi | new32[1], hi | new32[2], smin, smax)
    else:
        nb = (tnum.with_subreg(vo, new32[0]), umin, umax, smin, smax)
    return scalar.sync(nb, 64)


class BranchMixin:
    def check_cond_jmp(self, st, insn, pc: int):
        regs = st.cur.regs
        o = insn.op
        target, fall = insn.jump_target(pc), pc + 1
        if insn.source == op.BPF_X:
            s = self.read_reg(st, insn.src)
        else:
            s = scalar_const(insn.imm if insn.cls == op.BPF_JMP else insn.imm & scalar.M32)
        d = self.read_reg(st, insn.dst)
        is32 = insn.cls == op.BPF_JMP32
        if d.t == SCALAR and s.t == SCALAR:
            return self._scalar_branch(st, insn, d, s, o, is32, target, fall, pc)
        # pointer compares
        if o in (op.BPF_JEQ, op.BPF_JNE) and not is32:
            p, z = (d, s) if s.t == SCALAR else (s, d)
            if z.t == SCALAR and z.is_const() and z.val == 0 and p.is_ptr():
                if p.t in OR_NULL:
                    other = st.copy()
                    # JEQ: the taken branch is the NULL one; JNE: the fallthrough
                    self._mark_null(other, p.id, is_null=(o == op.BPF_JEQ))
                    self._mark_null(st, p.id, is_null=(o == op.BPF_JNE))
                    self.push_branch(other, target, pc)
                    return fall
                return fall if o == op.BPF_JEQ else target
        other = st.copy()
        if insn.source == op.BPF_X and not is32:
            self._pkt_compare(st, other, insn, d, s, o)
        self.push_branch(other, target, pc)
        return fall

    def _scalar_branch(self, st, insn, d, s, o, is32, target, fall, pc):
        w = 32 if is32 else 64
        if is32:
            a, b = scalar.subreg32(d.bounds()), scalar.subreg32(s.bounds())
        else:
            a, b = d.bounds(), s.bounds()
        taken = refine(o, a, b, w)
        not_taken = refine(NEG[o], a, b, w)
        if taken is None and not_taken is None:
            return fall   # contradictory state; cannot happen on a feasible path
        if taken is None:
            self._apply(st, insn, d, s, not_taken, is32)
            return fall
        if not_taken is None:
            self._apply(st, insn, d, s, taken, is32)
            return target
        other = st.copy()
        od = other.cur.regs[insn.dst]
        os_ = other.cur.regs[insn.src] if insn.source == op.BPF_X else None
        self._apply(other, insn, od, os_, taken, is32)
        self._apply(st, insn, d, s if insn.source == op.BPF_X else None, not_taken, is32)
        self.push_branch(other, target, pc)
        return fall

    def _apply(self, st, insn, d: Reg, s, res, is32: bool) -> None:
        na, nb = res
        regs = st.cur.regs
        self._set_scalar(st, insn.dst, d, na, is32)
        if insn.source == op.BPF_X and s is not None and insn.src != insn.dst:
            self._set_scalar(st, insn.src, regs[insn.src], nb, is32)

    def _set_scalar(self, st, regno: int, r: Reg, nb, is32: bool) -> None:
        if is32:
            nb = _widen32(r.bounds(), nb)
            if nb is None:
                return
        nr = scalar_from(nb)
        nr.id = r.id
        st.cur.regs[regno] = nr
        if r.id:   # sync_linked_regs: copies of this scalar learn the same range
            for f in st.frames:
                for i, x in enumerate(f.regs):
                    if x.t == SCALAR and x.id == r.id:
                        f.regs[i] = nr.copy()
            st.update_spills(lambda sp: nr.copy() if sp.t == SCALAR and sp.id == r.id else None)

    def _mark_null(self, st, rid: int, is_null: bool) -> None:
        def conv(x: Reg):
            if x.t in OR_NULL and x.id == rid:
                if is_null:
                    return scalar_const(0)
                y = x.copy()
                y.t = OR_NULL[x.t]
                return y
            return None
        ref = 0
        for f in st.frames:
            for i, x in enumerate(f.regs):
                if x.t in OR_NULL and x.id == rid:
                    ref = ref or x.ref
                    f.regs[i] = conv(x)
        st.update_spills(conv)
        if is_null and ref:
            st.refs.pop(ref, None)

    # ---------------------------------------------------------------- packets
    def _pkt_compare(self, st, other, insn, d, s, o) -> None:
        def is_data(r, base):
            return r.t == base

        def init_pkt(r):
            return r.t == PKT and r.off == 0 and r.is_const() and r.val == 0
        dt, stt = d.t, s.t
        fwd = (dt == PKT and stt == PKT_END) or (dt == PKT_META and init_pkt(s))
        rev = (dt == PKT_END and stt == PKT) or (dt == PKT and s.t == PKT_META and init_pkt(d))
        if not (fwd or rev):
            return
        # (branch state, register whose id learns a range, right-open?)
        if o == op.BPF_JGT:
            plan = (st, insn.dst, False) if fwd else (other, insn.src, True)
        elif o == op.BPF_JLT:
            plan = (other, insn.dst, True) if fwd else (st, insn.src, False)
        elif o == op.BPF_JGE:
            plan = (st, insn.dst, True) if fwd else (other, insn.src, False)
        elif o == op.BPF_JLE:
            plan = (other, insn.dst, False) if fwd else (st, insn.src, True)
        else:
            return
        state, regno, right_open = plan
        self._find_good_pkt_pointers(state, state.cur.regs[regno], right_open)

    def _find_good_pkt_pointers(self, st, dreg: Reg, right_open: bool) -> None:
        if dreg.off < 0 or (dreg.off == 0 and right_open):
            return
        if dreg.umax > MAX_PACKET_OFF or dreg.umax + dreg.off > MAX_PACKET_OFF:
            return
        new_range = dreg.off + (1 if right_open else 0)
        t, rid = dreg.t, dreg.id

        def upd(x: Reg):
            if x.t == t and x.id == rid and x.rng < new_range:
                y = x.copy()
                y.rng = new_range
                return y
            return None
        for f in st.frames:
            for i, x in enumerate(f.regs):
                y = upd(x)
                if y is not None:
                    f.regs[i] = y
        st.update_spills(upd)
