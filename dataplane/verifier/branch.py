"""Conditional jumps: branch prediction from ranges, range refinement on both
sides (reg_set_min_max), null checks of *_or_null pointers
(mark_ptr_or_null_regs) and packet range learning (try_match_pkt_pointers)."""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.verifier import scalar, tnum
from dataplane.verifier.precision import DST_REG_STACK, SRC_REG_STACK
from dataplane.verifier.reg import (BTF, MAP_PTR, MAP_VALUE, MEM, OR_NULL, PKT, PKT_END, PKT_META, SCALAR, STACK, Reg,
                                    scalar_const, scalar_from)

NEG = {op.BPF_JEQ: op.BPF_JNE, op.BPF_JNE: op.BPF_JEQ, op.BPF_JGT: op.BPF_JLE, op.BPF_JLE: op.BPF_JGT,
       op.BPF_JGE: op.BPF_JLT, op.BPF_JLT: op.BPF_JGE, op.BPF_JSGT: op.BPF_JSLE,
       op.BPF_JSLE: op.BPF_JSGT, op.BPF_JSGE: op.BPF_JSLT, op.BPF_JSLT: op.BPF_JSGE,
       op.BPF_JSET: -op.BPF_JSET}
MAX_PACKET_OFF = 0xFFFF


def _view(b, is32: bool):
    """(tnum, umin, umax, smin, smax) the compare looks at."""
    if is32:
        return (b[0][0] & scalar.M32, b[0][1] & scalar.M32), b[5], b[6], b[7], b[8]
    return b[0], b[1], b[2], b[3], b[4]


def _branch_taken_py(o: int, a, b, is32: bool, same: bool = False) -> int:
    """is_scalar_branch_taken: 1 always, 0 never, -1 unknown."""
    if same:   # the same register on both sides
        if o in (op.BPF_JGE, op.BPF_JLE, op.BPF_JSGE, op.BPF_JSLE, op.BPF_JEQ):
            return 1
        if o in (op.BPF_JGT, op.BPF_JLT, op.BPF_JSGT, op.BPF_JSLT, op.BPF_JNE):
            return 0
    t1, umin1, umax1, smin1, smax1 = _view(a, is32)
    t2, umin2, umax2, smin2, smax2 = _view(b, is32)
    if o in (op.BPF_JEQ, op.BPF_JNE):
        eq = o == op.BPF_JEQ
        if t1[1] == 0 and t2[1] == 0:
            return int((t1[0] == t2[0]) == eq)
        mu = t1[1] | t2[1]
        if (t1[0] ^ t2[0]) & ~mu:     # the known bits disagree (tnum_overlap)
            return 0 if eq else 1
        if umin1 > umax2 or umax1 < umin2 or smin1 > smax2 or smax1 < smin2:
            return 0 if eq else 1
        if not is32 and (a[5] > b[6] or a[6] < b[5] or a[7] > b[8] or a[8] < b[7]):
            return 0 if eq else 1
        return -1
    if o == op.BPF_JSET:
        if t2[1] != 0:
            t1, t2 = t2, t1
        if t2[1] != 0:
            return -1
        if (~t1[1] & t1[0]) & t2[0]:
            return 1
        if not ((t1[1] | t1[0]) & t2[0]):
            return 0
        return -1
    if o == op.BPF_JGT:
        return 1 if umin1 > umax2 else 0 if umax1 <= umin2 else -1
    if o == op.BPF_JSGT:
        return 1 if smin1 > smax2 else 0 if smax1 <= smin2 else -1
    if o == op.BPF_JLT:
        return 1 if umax1 < umin2 else 0 if umin1 >= umax2 else -1
    if o == op.BPF_JSLT:
        return 1 if smax1 < smin2 else 0 if smin1 >= smax2 else -1
    if o == op.BPF_JGE:
        return 1 if umin1 >= umax2 else 0 if umax1 < umin2 else -1
    if o == op.BPF_JSGE:
        return 1 if smin1 >= smax2 else 0 if smax1 < smin2 else -1
    if o == op.BPF_JLE:
        return 1 if umax1 <= umin2 else 0 if umin1 > umax2 else -1
    if o == op.BPF_JSLE:
        return 1 if smax1 <= smin2 else 0 if smin1 > smax2 else -1
    return -1


_FLIP = {op.BPF_JGE: op.BPF_JLE, op.BPF_JGT: op.BPF_JLT, op.BPF_JSGE: op.BPF_JSLE,
         op.BPF_JSGT: op.BPF_JSLT}
_U = (1, 2)     # indexes of umin/umax in a bounds list, 64-bit
_U32 = (5, 6)
_S = (3, 4)
_S32 = (7, 8)


def _refine_py(o: int, a, b, is32: bool):
    """regs_refine_cond_op + reg_bounds_sync: (a, b) given ``a <o> b``.
    The results may be invalid (empty) on a dead branch: see scalar.valid."""
    r1, r2 = list(a), list(b)
    swapped = False
    if o in _FLIP:
        o = _FLIP[o]
        r1, r2, swapped = r2, r1, True
    um = scalar.M32 if is32 else scalar.M64
    U, S = (_U32, _S32) if is32 else (_U, _S)
    if o == op.BPF_JEQ:
        for lo, hi in (U, S):
            r1[lo] = r2[lo] = max(r1[lo], r2[lo])
            r1[hi] = r2[hi] = min(r1[hi], r2[hi])
        if is32:
            t = tnum.intersect(tnum.subreg(r1[0]), tnum.subreg(r2[0]))
            r1[0], r2[0] = tnum.with_subreg(r1[0], t), tnum.with_subreg(r2[0], t)
        else:
            r1[0] = r2[0] = tnum.intersect(r1[0], r2[0])
    elif o in (op.BPF_JNE, op.BPF_JSET, -op.BPF_JSET):
        if not _is_const(r2, is32):
            r1, r2, swapped = r2, r1, not swapped
        if _is_const(r2, is32):
            val = r2[0][0] & um
            if o == op.BPF_JNE:
                sval = scalar.to_signed(val, 32 if is32 else 64)
                if r1[U[0]] == val:
                    r1[U[0]] += 1
                if r1[U[1]] == val:
                    r1[U[1]] -= 1
                if r1[S[0]] == sval:
                    r1[S[0]] += 1
                if r1[S[1]] == sval:
                    r1[S[1]] -= 1
            elif o == op.BPF_JSET:
                if val and val & (val - 1) == 0:
                    r1[0] = _with(r1[0], tnum.tor(_sub(r1[0], is32), (val, 0)), is32)
            else:
                # forget the ranges first (the kernel does, to avoid
                # invariant violations on a dead branch)
                r1[1:] = scalar.UNKNOWN[1:]
                r1[0] = _with(r1[0], tnum.tand(_sub(r1[0], is32), (~val & um, 0)), is32)
    elif o == op.BPF_JLE:
        r1[U[1]] = min(r1[U[1]], r2[U[1]])
        r2[U[0]] = max(r1[U[0]], r2[U[0]])
    elif o == op.BPF_JLT:
        r1[U[1]] = min(r1[U[1]], (r2[U[1]] - 1) & um)
        r2[U[0]] = max((r1[U[0]] + 1) & um, r2[U[0]])
    elif o == op.BPF_JSLE:
        r1[S[1]] = min(r1[S[1]], r2[S[1]])
        r2[S[0]] = max(r1[S[0]], r2[S[0]])
    elif o == op.BPF_JSLT:
        w = 32 if is32 else 64
        r1[S[1]] = min(r1[S[1]], scalar.to_signed(r2[S[1]] - 1, w))
        r2[S[0]] = max(scalar.to_signed(r1[S[0]] + 1, w), r2[S[0]])
    if swapped:
        r1, r2 = r2, r1
    return scalar._sync_py(tuple(r1)), scalar._sync_py(tuple(r2))


# the native bounds module (scalar._native) computes the same in C; past 64 bits, Python
_n_taken, _n_refine = scalar._native.branch_taken, scalar._native.refine


def branch_taken(o: int, a, b, is32: bool, same: bool = False) -> int:
    """is_scalar_branch_taken: 1 always, 0 never, -1 unknown."""
    try:
        return _n_taken(o, a, b, is32, same)
    except OverflowError:
        return _branch_taken_py(o, a, b, is32, same)


def refine(o: int, a, b, is32: bool):
    """regs_refine_cond_op + reg_bounds_sync (see _refine_py)."""
    try:
        return _n_refine(o, a, b, is32)
    except (OverflowError, ArithmeticError):
        return _refine_py(o, a, b, is32)


AT_PKT_END, BEYOND_PKT_END = -1, -2   # Reg.rng of a packet pointer known to be >= / > pkt_end


def _pkt_branch_taken(o: int, d, s) -> int:
    """is_pkt_ptr_branch_taken: 1/0 when a packet pointer's known position
    relative to pkt_end decides the compare, else -1."""
    if s.t == PKT_END and d.t in (PKT, PKT_META):
        pkt = d
    elif d.t == PKT_END and s.t in (PKT, PKT_META):
        pkt, o = s, {op.BPF_JGT: op.BPF_JLT, op.BPF_JLT: op.BPF_JGT, op.BPF_JGE: op.BPF_JLE, op.BPF_JLE: op.BPF_JGE}.get(o, o)
    else:
        return -1
    if pkt.rng >= 0:
        return -1
    if o in (op.BPF_JGT, op.BPF_JLE) and pkt.rng == BEYOND_PKT_END:
        return int(o == op.BPF_JGT)
    if o in (op.BPF_JGE, op.BPF_JLT):
        return int(o == op.BPF_JGE)
    return -1


def _is_const(r, is32: bool) -> bool:
    return (r[0][1] & scalar.M32 == 0) if is32 else r[0][1] == 0


def _sub(t, is32: bool):
    return tnum.subreg(t) if is32 else t


def _with(t, new, is32: bool):
    return tnum.with_subreg(t, new) if is32 else new


class BranchMixin:
    def check_cond_jmp(self, st, insn, pc: int):
        regs = st.cur.regs
        o = insn.op
        target, fall = insn.jump_target(pc), pc + 1
        if insn.source == op.BPF_X:
            s = self.read_reg(st, insn.src)
        else:
            s = self._imm_operand(insn)
        d = self.read_reg(st, insn.dst)
        is32 = insn.cls == op.BPF_JMP32
        # stack pointers compared: backtracking must not follow them (INSN_F_*_REG_STACK)
        flags = (DST_REG_STACK if d.t == STACK else 0) | (
            SRC_REG_STACK if insn.source == op.BPF_X and s.t == STACK else 0)
        if flags:
            self.push_hist(st, flags)
        if d.t == SCALAR and s.t == SCALAR:
            return self._scalar_branch(st, insn, d, s, o, is32, target, fall, pc)
        # pointer compares
        if o in (op.BPF_JEQ, op.BPF_JNE) and not is32:
            p, z = (d, s) if s.t == SCALAR else (s, d)
            if z.t == SCALAR and z.is_const() and z.val == 0 and p.is_ptr():
                if p.t in OR_NULL and insn.source == op.BPF_K:
                    # only `if rX == 0` with an immediate marks rX (the
                    # kernel's check_cond_jmp_op): against a register known
                    # to be zero both branches keep the maybe-NULL pointer
                    self._linked_hist(st, insn, d, s)
                    other = st.copy()
                    # JEQ: the taken branch is the NULL one; JNE: the fallthrough
                    self._mark_null(other, p.id, is_null=(o == op.BPF_JEQ))
                    self._mark_null(st, p.id, is_null=(o == op.BPF_JNE))
                    self.push_branch(other, target, pc)
                    return fall
                # reg_not_null: only these are known non-NULL; a ctx, stack or
                # packet pointer compared with 0 leaves both branches open
                if p.t in (MAP_VALUE, MAP_PTR, MEM, BTF):
                    self._precise_operands(st, insn, d, s)
                    return fall if o == op.BPF_JEQ else target
        if insn.source == op.BPF_X and not is32:
            pred = _pkt_branch_taken(o, d, s)
            if pred == 1:
                return target
            if pred == 0:
                return fall
        self._linked_hist(st, insn, d, s)
        other = st.copy()
        if insn.source == op.BPF_X and not is32:
            self._pkt_compare(st, other, insn, d, s, o)
        self.push_branch(other, target, pc)
        return fall

    def _precise_operands(self, st, insn, d, s) -> None:
        """A decided branch relied on its scalar operands' exact values."""
        if d.t == SCALAR:
            self.mark_precise(st, insn.dst)
        if insn.source == op.BPF_X and s.t == SCALAR:
            self.mark_precise(st, insn.src)

    def _linked_hist(self, st, insn, d, s) -> None:
        """collect_linked_regs: scalars sharing an id with a compared register
        are refined together; the history records them for backtracking."""
        ids = set()
        if insn.source == op.BPF_X and s.t == SCALAR and s.id:
            ids.add(s.id)
        if d.t == SCALAR and d.id:
            ids.add(d.id)
        if not ids:
            return
        linked = []
        for fi in range(len(st.frames) - 1, -1, -1):
            f = st.frames[fi]
            for i in range(10):
                r = f.regs[i]
                if r.t == SCALAR and r.id in ids:
                    linked.append((fi, True, i))
            for spi, (types, sp) in f.stack.items():
                if types[7] == "r" and sp is not None and sp.t == SCALAR and sp.id in ids:
                    linked.append((fi, False, spi))
        if len(linked) > 1:
            self.push_hist(st, 0, tuple(linked))

    @staticmethod
    def _imm_operand(insn):
        """The immediate of a conditional jump as a scalar (32-bit for JMP32)."""
        return scalar_const(insn.imm if insn.cls == op.BPF_JMP else insn.imm & scalar.M32)

    def _scalar_branch(self, st, insn, d, s, o, is32, target, fall, pc):
        same = insn.source == op.BPF_X and insn.src == insn.dst
        pred = branch_taken(o, d.bounds(), s.bounds(), is32, same)
        if pred >= 0:
            self._precise_operands(st, insn, d, s)
            return target if pred == 1 else fall
        self._linked_hist(st, insn, d, s)
        other = st.copy()
        if same:    # reg_set_min_max learns nothing from r <op> r
            self.push_branch(other, target, pc)
            return fall
        is_x = insn.source == op.BPF_X
        ta, tb = refine(o, d.bounds(), s.bounds(), is32)
        fa, fb = refine(NEG[o], d.bounds(), s.bounds(), is32)
        self._set_scalar(other, insn.dst, other.cur.regs[insn.dst], ta)
        self._set_scalar(st, insn.dst, d, fa)
        if is_x:
            self._set_scalar(other, insn.src, other.cur.regs[insn.src], tb)
            self._set_scalar(st, insn.src, s, fb)
        self.push_branch(other, target, pc)
        return fall

    def _set_scalar(self, st, regno: int, r: Reg, nb) -> None:
        if not scalar.valid(nb):
            # reg_bounds_sanity_check: a dead branch's impossible range is
            # forgotten, and the branch is still explored (as the kernel does)
            nb = scalar.unknown()
        nr = scalar_from(nb)
        nr.id = r.id
        st.cur.regs[regno] = nr
        if r.id:   # sync_linked_regs: copies of this scalar learn the same range
            st.update_regs(lambda x: nr.copy() if x.t == SCALAR and x.id == r.id else None)

    def _mark_null(self, st, rid: int, is_null: bool) -> None:
        def conv(x: Reg):
            if x.t in OR_NULL and x.id == rid:
                if is_null:
                    return scalar_const(0)
                y = x.copy()
                y.t = OR_NULL[x.t]
                if y.t == MAP_VALUE:
                    self.map_value_not_null(y)   # map-in-map: the inner map (calls.py)
                elif y.t == MAP_PTR:
                    y.id = 0                     # already the inner map (Behaviour.inner_map_lookup)
                return y
            return None
        ref = 0
        for f in st.frames:
            for i, x in enumerate(f.regs):
                if x.t in OR_NULL and x.id == rid:
                    # only an acquired pointer's NULL ends its reference (id ==
                    # ref_obj_id); a socket cast's NULL leaves the socket held
                    ref = ref or (x.ref if x.ref == rid else 0)
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
        # mark_pkt_end: in the opposite branch the packet pointer is at (or,
        # right-open, beyond) pkt_end, which later compares against pkt_end
        # can predict (a loop's exit test after the pointer moved on, say)
        ostate = other if state is st else st
        r = ostate.cur.regs[regno]
        if r.t == PKT:
            r = r.copy()
            r.rng = AT_PKT_END if right_open else BEYOND_PKT_END
            ostate.cur.regs[regno] = r

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
        st.update_regs(upd)
