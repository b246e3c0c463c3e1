"""ALU instructions: scalar range tracking and pointer arithmetic rules
(the kernel's check_alu_op / adjust_reg_min_max_vals / adjust_ptr_min_max_vals)."""
from __future__ import annotations

from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import (BPF_PSEUDO_FUNC, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX,
                                  BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE)
from dataplane.verifier import scalar
from dataplane.verifier.reg import (scalar_unknown, BTF, CTX, FUNC, MAP_PTR, MAP_VALUE, MEM, NOT_INIT, OR_NULL, PKT,
                                    PKT_META, SCALAR, STACK, Reg, mark_unknown, ptr, scalar_const,
                                    scalar_from)

ALU_STR = {op.BPF_ADD: "+=", op.BPF_SUB: "-=", op.BPF_MUL: "*=", op.BPF_DIV: "/=", op.BPF_OR: "|=",
           op.BPF_AND: "&=", op.BPF_LSH: "<<=", op.BPF_RSH: ">>=", op.BPF_NEG: "neg", op.BPF_MOD: "%=",
           op.BPF_XOR: "^=", op.BPF_MOV: "=", op.BPF_ARSH: "s>>=", op.BPF_END: "endian"}
OPNAME = {op.BPF_ADD: "add", op.BPF_SUB: "sub", op.BPF_MUL: "mul", op.BPF_DIV: "div", op.BPF_OR: "or",
          op.BPF_AND: "and", op.BPF_LSH: "lsh", op.BPF_RSH: "rsh", op.BPF_MOD: "mod",
          op.BPF_XOR: "xor", op.BPF_ARSH: "arsh"}
ARITH_OK = (CTX, MAP_VALUE, STACK, PKT, PKT_META, MEM, BTF, FUNC)
BPF_MAX_VAR_OFF = 1 << 29
S64_MIN = -(1 << 63)


def _unknown64() -> Reg:
    r = Reg()
    mark_unknown(r)
    return r


class AluMixin:
    def read_reg(self, st, regno: int) -> Reg:
        r = st.cur.regs[regno]
        if r.t == NOT_INIT:
            self.fail(f"R{regno} !read_ok")
        return r

    def write_check(self, regno: int) -> None:
        if regno == 10:
            self.fail("frame pointer is read only")

    def check_alu(self, st, insn) -> None:
        regs = st.cur.regs
        o, is64 = insn.op, insn.cls == op.BPF_ALU64
        dst = insn.dst
        if o in (op.BPF_NEG, op.BPF_END):
            d = self.read_reg(st, dst)
            self.write_check(dst)
            if d.is_ptr():
                # privileged (allow_ptr_leaks): the kernel lets neg/bswap
                # turn a pointer into an unknown scalar
                regs[dst] = scalar_unknown()
                return
            b = d.bounds()
            if o == op.BPF_NEG:
                nb = self._checked(scalar.neg(b, not is64))
            else:
                nb = self._bswap(insn, b)
            regs[dst] = scalar_from(nb)
            return
        if o == op.BPF_MOV:
            if insn.source == op.BPF_X:
                s = self.read_reg(st, insn.src)
                self.write_check(dst)
                if insn.off in (8, 16, 32) and not insn.off == 0:
                    regs[dst] = self._movsx(s, insn.off, is64)
                elif is64:
                    if s.t == SCALAR and not s.id and not s.is_const():
                        s = self._with_new_id(st, insn.src, s)   # a later compare refines both
                    regs[dst] = s.copy()
                else:
                    if s.t != SCALAR:
                        regs[dst] = scalar_from(scalar.sync(scalar.zext32(scalar.unknown())))
                    else:
                        # the copy stays linked only if it cannot change value
                        if s.umax <= scalar.M32 and not s.id and not s.is_const():
                            s = self._with_new_id(st, insn.src, s)
                        r = scalar_from(self._checked(scalar.sync(scalar.zext32(s.bounds()))))
                        if s.umax <= scalar.M32:
                            r.id = s.id
                        regs[dst] = r
            else:
                self.write_check(dst)
                regs[dst] = scalar_const(insn.imm if is64 else insn.imm & scalar.M32)
            return
        if o not in OPNAME:
            self.fail(f"invalid BPF_ALU opcode {o:x}")
        if insn.source == op.BPF_X:
            s = self.read_reg(st, insn.src)
        else:
            if o in (op.BPF_DIV, op.BPF_MOD) and insn.imm == 0:
                self.fail("div by zero")
            if o in (op.BPF_LSH, op.BPF_RSH, op.BPF_ARSH) and not 0 <= insn.imm < (64 if is64 else 32):
                self.fail(f"invalid shift {insn.imm}")
            s = scalar_const(insn.imm)
        d = self.read_reg(st, dst)
        self.write_check(dst)
        if d.is_ptr() or s.is_ptr():
            if insn.source == op.BPF_X and d.is_ptr() != s.is_ptr():
                # the scalar offset of a pointer must be exact (precision)
                self.mark_precise(st, insn.dst if s.is_ptr() else insn.src)
            self._ptr_alu(st, insn, d, s)
            return
        name = OPNAME[o]
        width = 64 if is64 else 32
        src_const = (s.is_const() and s.smin == s.smax and s.umin == s.umax) if is64 else (
            scalar.is_const32(s.bounds()) and s.s32min == s.s32max and s.u32min == s.u32max)
        if o in (op.BPF_DIV, op.BPF_MOD) or (o in (op.BPF_LSH, op.BPF_RSH, op.BPF_ARSH)
                                             and (not src_const or s.umax >= width)):
            # is_safe_to_compute_dst_reg_range says no: the kernel forgets
            # the whole register (no 32-bit zero extension either).
            nb = self._divmod(insn, d, s, is64) if o in (op.BPF_DIV, op.BPF_MOD) else None
            regs[dst] = scalar_from(nb) if nb is not None else _unknown64()
            return
        regs[dst] = scalar_from(self._checked(scalar.alu(name, d.bounds(), s.bounds(), not is64)))

    def _with_new_id(self, st, regno: int, s: Reg) -> Reg:
        """Give register ``regno`` a fresh id.  Register objects are shared
        between state copies (copy on write), so it is replaced, not edited."""
        s = s.copy()
        s.id = self.new_id()
        st.cur.regs[regno] = s
        return s

    @staticmethod
    def _checked(nb):
        """reg_bounds_sanity_check outside the test harness: an impossible
        range is forgotten (the register becomes unknown), never trusted."""
        return nb if scalar.valid(nb) else scalar.unknown()

    def _divmod(self, insn, d: Reg, s: Reg, is64: bool):
        """Unsigned div/mod by a constant, when ``divmod_ranges`` is on (more
        precise than the 6.18 kernel, which accepts fewer programs)."""
        if not self.divmod_ranges or insn.off != 0 or not s.is_const():
            return None
        b = d.bounds()
        k = s.val if is64 else s.val & scalar.M32
        if k == 0:    # x / 0 = 0, x % 0 = x in BPF
            return scalar.const(0) if insn.op == op.BPF_DIV else (b if is64 else scalar.sync(scalar.zext32(b)))
        umin, umax = (b[1], b[2]) if is64 else (b[5], b[6])
        if insn.op == op.BPF_DIV:
            lo, hi = umin // k, umax // k
        else:
            lo, hi = (umin % k, umax % k) if umax - umin < k and umin % k <= umax % k else (0, min(k - 1, umax))
        w = 64 if is64 else 32
        umaxw = (1 << w) - 1
        if hi > umaxw:
            return None
        return self._checked(scalar.from64(scalar.tnum.trange(lo, hi), lo, hi, lo, hi))

    def _bswap(self, insn, b):
        bits = insn.imm
        if b[0][1] == 0:
            v = b[1] & ((1 << bits) - 1)
            if insn.cls == op.BPF_ALU64 or insn.source == op.BPF_TO_BE:
                v = int.from_bytes(v.to_bytes(bits // 8, "little"), "big")
            return scalar.const(v)
        if bits == 64:
            return scalar.unknown()
        return scalar.from64((0, (1 << bits) - 1), 0, (1 << bits) - 1, 0, (1 << bits) - 1)

    def _movsx(self, s: Reg, bits: int, is64: bool) -> Reg:
        if s.t != SCALAR:
            mark = Reg()
            mark_unknown(mark)
            return mark
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if s.is_const():
            v = scalar.to_signed(s.val, bits)
            return scalar_const(v if is64 else v & scalar.M32)
        if 0 <= s.smin and s.umax <= hi:
            r = scalar_from(s.bounds())
        else:
            r = scalar_from(scalar.from64((0, scalar.M64), 0, scalar.M64, lo, hi))
        if not is64:
            r = scalar_from(scalar.sync(scalar.zext32(r.bounds())))
        return r

    # ---------------------------------------------------------------- pointers
    def _ptr_alu(self, st, insn, d: Reg, s: Reg) -> None:
        regs = st.cur.regs
        o, dst = insn.op, insn.dst
        if d.is_ptr() and s.is_ptr():
            if o == op.BPF_SUB:   # privileged: pointer difference is a scalar
                r = Reg()
                mark_unknown(r)
                regs[dst] = r
                return
            self.fail(f"R{dst} pointer {ALU_STR[o]} pointer prohibited")
        if insn.cls != op.BPF_ALU64:
            if o == op.BPF_SUB:
                r = Reg()
                mark_unknown(r)
                regs[dst] = r
                return
            self.fail(f"R{dst} 32-bit pointer arithmetic prohibited")
        ptr_reg, off_reg = (d, s) if d.is_ptr() else (s, d)
        if ptr_reg.t in OR_NULL:
            self.fail(f"R{dst} pointer arithmetic on {ptr_reg.type_str()} prohibited, null-check it first")
        known = off_reg.is_const()
        smin = off_reg.smin
        if ptr_reg.t not in ARITH_OK:
            if not (ptr_reg.t == MAP_PTR and known and smin == 0 and o == op.BPF_ADD):
                self.fail(f"R{dst} pointer arithmetic on {ptr_reg.type_str()} prohibited")
        tstr = ptr_reg.type_str()
        self._sane_offset(off_reg, tstr)
        if o == op.BPF_ADD:
            r = ptr_reg.copy()
            if known and -(1 << 31) <= ptr_reg.off + smin < (1 << 31):
                r.off = ptr_reg.off + smin
            else:
                nb = scalar.alu("add", ptr_reg.bounds(), off_reg.bounds())
                r.set_bounds(nb)
                if ptr_reg.t in (PKT, PKT_META):
                    r.id = self.new_id()
                    r.rng = 0
        elif o == op.BPF_SUB:
            if d is off_reg:
                self.fail(f"R{dst} tried to subtract pointer from scalar")
            if ptr_reg.t == STACK:
                self.fail(f"R{dst} subtraction from stack pointer prohibited")
            r = ptr_reg.copy()
            if known and -(1 << 31) <= ptr_reg.off - smin < (1 << 31):
                r.off = ptr_reg.off - smin
            else:
                nb = scalar.alu("sub", ptr_reg.bounds(), off_reg.bounds())
                r.set_bounds(nb)
                if ptr_reg.t in (PKT, PKT_META):
                    r.id = self.new_id()
                    r.rng = 0
        elif o in (op.BPF_AND, op.BPF_OR, op.BPF_XOR):
            self.fail(f"R{dst} bitwise operator {ALU_STR[o]} on pointer prohibited")
        else:
            self.fail(f"R{dst} pointer arithmetic with {ALU_STR[o]} operator prohibited")
        if r.rng < 0 and r.t in (PKT, PKT_META):
            # 6.18.44: an AT/BEYOND pkt_end mark (mark_pkt_end) does not
            # survive arithmetic -- even '+= 0' -- so a later compare against
            # pkt_end explores both branches again (probed on the live kernel)
            r.rng = 0
        self._sane_offset(r, tstr, ptr=True)
        regs[dst] = r

    def _sane_offset(self, reg: Reg, tstr: str, ptr: bool = False) -> None:
        """check_reg_sane_offset: keep offsets far from overflow."""
        known = reg.is_const()
        val = reg.smin
        if not ptr and known and (val >= BPF_MAX_VAR_OFF or val <= -BPF_MAX_VAR_OFF):
            self.fail(f"math between {tstr} pointer and {val} is not allowed")
        if ptr and (reg.off >= BPF_MAX_VAR_OFF or reg.off <= -BPF_MAX_VAR_OFF):
            self.fail(f"{tstr} pointer offset {reg.off} is not allowed")
        if reg.smin == S64_MIN:
            self.fail(f"math between {tstr} pointer and register with unbounded min value is not allowed")
        if reg.smin >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            self.fail(f"value {reg.smin} makes {tstr} pointer be out of bounds")

    # ---------------------------------------------------------------- lddw
    def check_lddw(self, st, insn, pc: int) -> None:
        self.write_check(insn.dst)
        regs = st.cur.regs
        if insn.src == 0:
            regs[insn.dst] = scalar_const(insn.imm)
            return
        fd = insn.imm & 0xFFFFFFFF
        fd = fd - (1 << 32) if fd & 0x80000000 else fd
        if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
            regs[insn.dst] = ptr(MAP_PTR, map=fd)
        elif insn.src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
            regs[insn.dst] = ptr(MAP_VALUE, map=fd, off=insn.imm >> 32)
        elif insn.src == BPF_PSEUDO_FUNC:
            regs[insn.dst] = ptr(FUNC, msize=pc + 1 + fd)
        else:
            self.fail("invalid bpf_ld_imm64 insn")
