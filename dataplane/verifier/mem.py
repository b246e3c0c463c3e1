"""Loads, stores and atomics: per pointer type bounds checks (check_mem_access,
check_packet_access, check_map_access, check_ctx_access, check_stack_read /
check_stack_write), spill/fill of registers, and helper memory arguments."""
from __future__ import annotations

from dataplane.abi import ctx as ctxabi
from dataplane.isa import opcodes as op
from dataplane.verifier import scalar, tnum
from dataplane.abi.helper_protos import SOCK_CAST_STRUCTS
from dataplane.abi.maps import MAP_BTF_STRUCT
from dataplane.verifier import dynptr
from dataplane.verifier.reg import MEM_MAP_KEY, SOCK, SOCK_COMMON
from dataplane.verifier.reg import (BTF, CTX, MAP_PTR, MAP_VALUE, MEM, NOT_INIT, PKT, PKT_END, PKT_META,
                                    SCALAR, STACK, Reg, mark_unknown, ptr, scalar_const, scalar_from,
                                    scalar_unknown)
from dataplane.verifier.precision import stack_flags
from dataplane.verifier.state import INVALID_SLOT, MAX_BPF_STACK

BPF_MAX_VAR_OFF = 1 << 29
# stack bytes no load may read: a dynptr's (D, d) and an iterator's (I, iters.py)
_SPECIAL_BYTES = frozenset("DdI")
MAX_PACKET_OFF = 0xFFFF
_CTX_KIND = {ctxabi.PKT: PKT, ctxabi.PKT_END: PKT_END, ctxabi.PKT_META: PKT_META}


def _sized_unknown(size: int) -> Reg:
    if size == 8:
        return scalar_unknown()
    m = (1 << (8 * size)) - 1
    return scalar_from(scalar.from64((0, m), 0, m, 0, m))


class MemMixin:
    # ---------------------------------------------------------------- entry points
    def check_load(self, st, insn, pc: int) -> None:
        src = self.read_reg(st, insn.src)
        self.write_check(insn.dst)
        size = op.SIZE_BYTES[insn.size]
        val = self.check_mem_access(st, pc, insn.src, src, insn.off, size, write=False)
        self._same_ptr_type(pc)
        if insn.mode == op.BPF_MEMSX and val.t == SCALAR:
            bits = size * 8
            if val.is_const():
                val = scalar_const(scalar.to_signed(val.val, bits))
            else:
                lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
                val = scalar_from(scalar.from64((0, scalar.M64), 0, scalar.M64, lo, hi))
        st.cur.regs[insn.dst] = val

    def check_store(self, st, insn, pc: int) -> None:
        size = op.SIZE_BYTES[insn.size]
        dst = self.read_reg(st, insn.dst)
        if insn.cls == op.BPF_STX:
            val = self.read_reg(st, insn.src)
        else:
            val = scalar_const(insn.imm)
        self.store_src = insn.src if insn.cls == op.BPF_STX else -1
        self.check_mem_access(st, pc, insn.dst, dst, insn.off, size, write=True, value=val,
                              is_st=insn.cls == op.BPF_ST)
        self._same_ptr_type(pc)

    def _same_ptr_type(self, pc: int) -> None:
        """save_aux_ptr_type: a load/store that reaches the ctx on one path
        must reach it on every path (the ctx access is rewritten per insn;
        the JIT's static ctx loads rely on it too)."""
        kinds = self.aux[pc].mem_kinds
        if "ctx" in kinds and len(kinds) > 1:
            self.fail("same insn cannot be used with different pointers")

    def check_atomic(self, st, insn, pc: int) -> None:
        size = op.SIZE_BYTES[insn.size]
        if size not in (4, 8):
            self.fail("invalid atomic operand size")
        val = self.read_reg(st, insn.src)
        dst = self.read_reg(st, insn.dst)
        if insn.imm == op.BPF_CMPXCHG:
            self.read_reg(st, 0)
        # a pointer operand is fine for a privileged loader (allow_ptr_leaks):
        # memory only ever holds the unknown scalar written below
        if dst.t == CTX or dst.t in (PKT, PKT_META, PKT_END):
            self.fail(f"BPF_ATOMIC stores into R{insn.dst} {dst.type_str()} is not allowed")
        if dst.t != STACK:   # atomics check alignment strictly (strict_alignment_once); stack always does
            at = tnum.add(dst.vo, tnum.const(dst.off + insn.off))
            if (at[0] | at[1]) & (size - 1):
                desc = {MAP_VALUE: "value "}.get(dst.t, "")
                self.fail(f"misaligned {desc}access off {tnum.fmt(dst.vo)}+{dst.off}+{insn.off} size {size}")
        old = self.check_mem_access(st, pc, insn.dst, dst, insn.off, size, write=False)
        self.check_mem_access(st, pc, insn.dst, dst, insn.off, size, write=True, value=scalar_unknown())
        if insn.imm == op.BPF_CMPXCHG:
            st.cur.regs[0] = _sized_unknown(size) if old.t == SCALAR else old
        elif insn.imm & op.BPF_FETCH:
            self.write_check(insn.src)
            st.cur.regs[insn.src] = _sized_unknown(size)

    def check_ld_abs(self, st, insn) -> None:
        if self.prog_type not in ("socket", "tc"):
            self.fail("BPF_LD_[ABS|IND] instructions not allowed for this program type")
        r6 = self.read_reg(st, 6)
        if insn.mode == op.BPF_IND:
            self.read_reg(st, insn.src)
        if r6.t != CTX:
            self.fail("at the time of BPF_LD_ABS|IND R6 != pointer to skb")
        if st.refs:
            self.fail("BPF_LD_[ABS|IND] cannot be mixed with socket references")
        regs = st.cur.regs
        for i in range(1, 6):
            regs[i] = Reg()
        # the kernel marks R0 unknown, not bounded by the load size (a byte
        # load can still be compared with 0x800 in both directions)
        regs[0] = scalar_unknown()

    # ---------------------------------------------------------------- dispatch
    def check_mem_access(self, st, pc, regno, reg: Reg, off: int, size: int, *, write: bool,
                         value: Reg | None = None, is_st: bool = False) -> Reg:
        """Check one access; for reads return the loaded value."""
        t = reg.t
        aux = self.aux[pc]
        aux.mem_kinds.add(reg.type_str())
        if t == STACK:
            return self._stack_access(st, regno, reg, off, size, write, value, is_st)
        if t == CTX:
            return self._ctx_access(reg, regno, off, size, write, aux)
        if t in (PKT, PKT_META):
            aux.pkt_write |= write
            if write and self.prog_type == "socket":
                self.fail(f"cannot write into {reg.type_str()}")
            if write and value.is_ptr():
                pass
            self._check_packet(regno, reg, off + reg.off, size)
            return _sized_unknown(size)
        if t == MAP_VALUE:
            m = self.maps[reg.map]
            self._check_region(regno, reg, off + reg.off, size, m.value_size, "map value")
            lk = m.spin_lock_off
            if lk >= 0 and reg.smin + off + reg.off < lk + 4 and lk < reg.umax + off + reg.off + size:
                # check_map_access: special BTF fields are off limits
                self.fail("bpf_spin_lock cannot be accessed directly by load/store")
            return _sized_unknown(size)
        if t == MEM and reg.btf == MEM_MAP_KEY:     # PTR_TO_MAP_KEY (a bpf_for_each_map_elem callback's)
            if write:
                self.fail(f"write to change key R{regno} not allowed")
            self._check_region(regno, reg, off + reg.off, size, reg.msize, "map key")
            return _sized_unknown(size)
        if t == MEM:
            if write and dynptr.mem_write_forbidden(reg):
                self.fail(f"R{regno} cannot write into {reg.type_str()}")
            self._check_region(regno, reg, off + reg.off, size, reg.msize, "memory")
            return _sized_unknown(size)
        if t == BTF:
            return self._btf_access(regno, reg, off + reg.off, size, write, value)
        if t in (SOCK, SOCK_COMMON):
            return self._sock_access(regno, reg, off + reg.off, size, write)
        if t == MAP_PTR:
            self._map_ptr_access(regno, reg, off + reg.off, write)
        self.fail(f"R{regno} invalid mem access '{reg.type_str()}'")

    # ---------------------------------------------------------------- sockets
    def _sock_access(self, regno, reg, off, size, write) -> Reg:
        """check_sock_access: struct bpf_sock is read only, field by field
        (bpf_sock_is_valid_access; a sock_common lacks type..priority)."""
        if write:
            self.fail(f"R{regno} cannot write into {reg.type_str()}")
        if reg.smin < 0:
            self.fail(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.")
        if not _sock_field_ok(off, size, reg.t == SOCK_COMMON):
            self.fail(f"R{regno} invalid {reg.type_str()} access off={off} size={size}")
        return _sized_unknown(size)

    def _map_ptr_access(self, regno, reg: Reg, off: int, write: bool) -> None:
        """check_ptr_to_map_access: a CONST_PTR_TO_MAP (an inner map from a
        map-in-map lookup, or a map a program names) may be read as its
        kernel struct; dataplane's maps are not laid out like it."""
        m = self.maps.get(reg.map)
        tname = MAP_BTF_STRUCT.get(m.map_type) if m is not None else None
        if tname is None:
            self.fail(f"map_ptr access not supported for map type {m.map_type if m else '?'}")
        if off < 0:
            self.fail(f"R{regno} is {tname} invalid negative access: off={off}")
        if write:
            self.fail(f"only read from {tname} is supported")
        self.fail(f"R{regno}: reading struct {tname} through a map pointer is not implemented by dataplane "
                  f"(the kernel allows it; dataplane lacks it)")

    # ---------------------------------------------------------------- kernel objects
    def _btf_access(self, regno, reg, off, size, write, value) -> Reg:
        """check_ptr_to_btf_access for objects kfuncs return: reads inside the
        struct, writes only where the type's struct_access hook allows."""
        lay = self.objs.get(reg.btf)
        tname = reg.btf
        if off < 0:
            self.fail(f"R{regno} is ptr_{tname} invalid negative access: off={off}")
        if not reg.is_const() or reg.val:
            self.fail(f"R{regno} is ptr_{tname} invalid variable offset: off={off}, var_off={tnum.fmt(reg.vo)}")
        if lay is None and tname in SOCK_CAST_STRUCTS:
            # a bpf_skc_to_* cast: the kernel reads its struct by vmlinux BTF;
            # dataplane's sockets are struct bpf_sock, not laid out like it
            self.fail(f"R{regno}: reading struct {tname} is not implemented by dataplane "
                      f"(the kernel allows it; dataplane lacks it)")
        if lay is None:
            # No layout known: nothing may be touched (stricter than the
            # kernel, which knows every struct's BTF).
            self.fail(f"access beyond struct {tname} at off {off} size {size}")
        if write:
            if not lay.writable:
                self.fail("only read is supported")
            for woff, wsize in lay.writable:
                if off == woff:
                    if off + size > woff + wsize:
                        self.fail(f"write access at off {off} with size {size} beyond the member of "
                                  f"{tname} ended at {woff + wsize}")
                    break
            else:
                self.fail(f"no write support to {tname} at off {off}")
            if value is not None and value.is_ptr():
                self.fail(f"R{regno} leaks addr into mem")
            return None
        if off + size > lay.size:
            self.fail(f"access beyond struct {tname} at off {off} size {size}")
        return _sized_unknown(size)

    # ---------------------------------------------------------------- regions
    def _mem_err(self, regno, reg, kind, off, size, mem_size):
        if kind == "map value":
            return f"invalid access to map value, value_size={mem_size} off={off} size={size}"
        if kind == "map key":
            return f"invalid access to map key, key_size={mem_size} off={off} size={size}"
        if kind == "packet":
            return f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},off={off},r={mem_size})"
        return f"invalid access to memory, mem_size={mem_size} off={off} size={size}"

    def _fixed_ok(self, off: int, size: int, mem_size: int, zero_ok: bool = False) -> bool:
        return off >= 0 and (size > 0 or (size == 0 and zero_ok)) and off + size <= mem_size

    def _check_region(self, regno, reg, off, size, mem_size, kind, zero_ok=False) -> None:
        """check_mem_region_access: the whole variable range must fit."""
        smin = reg.smin
        if smin < 0 and (smin == -(1 << 63) or not -(1 << 31) <= off + smin < (1 << 31) or smin + off < 0):
            self.fail(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.")
        if not self._fixed_ok(smin + off, size, mem_size, zero_ok):
            self.verbose(self._mem_err(regno, reg, kind, smin + off, size, mem_size))
            self.fail(f"R{regno} min value is outside of the allowed memory range")
        if reg.umax >= BPF_MAX_VAR_OFF:
            self.fail(f"R{regno} unbounded memory access, make sure to bounds check any such access")
        if not self._fixed_ok(reg.umax + off, size, mem_size, zero_ok):
            self.verbose(self._mem_err(regno, reg, kind, reg.umax + off, size, mem_size))
            self.fail(f"R{regno} max value is outside of the allowed memory range")

    def _check_packet(self, regno, reg, off, size, zero_ok=False) -> None:
        if reg.smin < 0:
            self.fail(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.")
        if reg.rng < 0 or not self._fixed_ok(off, size, reg.rng, zero_ok):
            self.verbose(self._mem_err(regno, reg, "packet", off, size, max(reg.rng, 0)))
            self.fail(f"R{regno} offset is outside of the packet")
        self.max_pkt_offset = max(self.max_pkt_offset, off + reg.umax + size - 1)

    # ---------------------------------------------------------------- ctx
    def _ctx_access(self, reg, regno, off, size, write, aux) -> Reg:
        if reg.off or not reg.is_const() or reg.val:
            if not reg.is_const():
                self.fail(f"variable ctx access var_off={tnum.fmt(reg.vo)} disallowed")
            self.fail(f"dereference of modified ctx ptr R{regno} off={reg.off + reg.val} disallowed")
        f = ctxabi.ctx_access(self.prog_type, off, size, write)
        if f is None:
            self.fail(f"invalid bpf_context access off={off} size={size}")
        aux.ctx_field, aux.ctx_off, aux.ctx_kind = f.name, off, f.kind
        if write:
            return None
        kind = _CTX_KIND.get(f.kind)
        if kind is not None:
            return ptr(kind)
        return _sized_unknown(size)

    # ---------------------------------------------------------------- stack
    def _stack_access(self, st, regno, reg, off, size, write, value, is_st) -> Reg:
        frame = st.frames[reg.frame]
        off += reg.off
        if not reg.is_const():
            # check_ptr_alignment: stack accesses are always strictly aligned
            v, m = tnum.add(reg.vo, tnum.const(off))
            if (v | m) & (size - 1):
                self.fail(f"misaligned stack access off {tnum.fmt(reg.vo)}+{reg.off}+{off - reg.off} size {size}")
            return self._stack_var_access(frame, st, regno, reg, off, size, write)
        off += scalar.to_signed(reg.val, 64)
        if off % size:
            var = scalar.to_signed(reg.val, 64)
            self.fail(f"misaligned stack access off {var}+{reg.off}+{off - reg.off - var} size {size}")
        if off < -MAX_BPF_STACK or off + size > 0:
            self.fail(f"invalid {'write to' if write else 'read from'} stack R{regno} off={off} size={size}")
        self._grow(st, reg.frame, -off)
        spi = (-off - 1) // 8
        if write:
            dynptr.destroy(self, st, frame, (-off - 1) // 8)     # writing into a dynptr ends it
            if off % 8 == 0 and size == 8:
                self.live.mark_write(reg.frame, 1 << spi)    # stack liveness: slot overwritten
            kind = self._stack_write(frame, off, size, value, is_st)
            if kind == "r":     # a spill: backtracking follows the value through the slot
                self.push_hist(st, stack_flags(frame.frameno, (-off - 1) // 8))
            elif kind == "0" and not is_st:
                # STACK_ZERO bytes stand for the register's value: it must be exact
                self.mark_precise(st, self.store_src)
            return None
        self.live.mark_read(st, reg.frame, self.cur_pc, 1 << spi)
        self.filled = False
        val = self._stack_read(frame, off, size)
        if self.filled:
            self.push_hist(st, stack_flags(frame.frameno, (-off - 1) // 8))
        return val

    def _grow(self, st, frameno, depth) -> None:
        f = st.frames[frameno]
        if depth > f.depth:
            f.depth = depth
        sp = f.subprog
        if depth > self.stack_depth[sp]:
            self.stack_depth[sp] = depth

    def _stack_var_access(self, frame, st, regno, reg, off, size, write) -> Reg:
        if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
            self.fail(f"invalid unbounded variable-offset {'write to' if write else 'read from'} stack R{regno}")
        lo, hi = reg.smin + off, reg.smax + off + size
        if lo < -MAX_BPF_STACK or hi > 0:
            self.fail(f"invalid variable-offset {'write to' if write else 'read from'} stack R{regno} "
                      f"var_off={tnum.fmt(reg.vo)} off={off} size={size}")
        self._grow(st, reg.frame, -lo)
        if not write:
            self._live_reads(st, reg.frame, lo, hi)
        for b in range(lo, hi):
            spi, idx = (-b - 1) // 8, (-b - 1) % 8
            if write:
                dynptr.destroy(self, st, frame, spi)
            types, sp = frame.stack.get(spi, INVALID_SLOT)
            if write:
                types = types.replace("r", "m").replace("I", "m")
                frame.stack[spi] = (types[:idx] + "m" + types[idx + 1:], None)
            elif (types[idx] == "?" and not self.allow_uninit_stack) or types[idx] in _SPECIAL_BYTES:
                self.fail(f"invalid variable-offset read from stack R{regno} var_off={tnum.fmt(reg.vo)} "
                          f"off={off} size={size}")
        return None if write else _sized_unknown(size)

    def _live_reads(self, st, frameno: int, lo: int, hi: int) -> None:
        """Stack liveness: bytes [lo, hi) of the frame may be read here."""
        mask = 0
        for spi in range((-hi) // 8, (-lo - 1) // 8 + 1):
            mask |= 1 << spi
        if mask:
            self.live.mark_read(st, frameno, self.cur_pc, mask)

    def _stack_write(self, frame, off, size, value: Reg, is_st: bool) -> str | None:
        """Write the slot; "r" for a register spill, "0"/"m" for data bytes."""
        spi = (-off - 1) // 8
        types, sp = frame.stack.get(spi, INVALID_SLOT)
        if value.is_ptr() and size != 8:
            self.fail("invalid size of register spill")
        if off % 8 == 0 and (size == 8 or (value.t == SCALAR and value.umax < (1 << (8 * size)))):
            # an 8-byte BPF_ST of 0 is a spill of the constant 0, not
            # STACK_ZERO bytes (check_stack_write_fixed_off's fake_reg):
            # overwriting part of it later leaves the rest STACK_MISC
            # a spill (possibly narrow): the low-address bytes hold the register
            keep = types[:8 - size].replace("r", "m").replace("I", "m")
            frame.stack[spi] = (keep + "r" * size, value.copy())
            return "r"
        fill = "0" if value.is_null() else "m"
        lo_idx = (-(off + size - 1) - 1) % 8
        hi_idx = (-off - 1) % 8
        # a data write into a spilled register's or an iterator's slot
        # leaves its other bytes misc (check_stack_write_fixed_off's scrub)
        types = types.replace("r", "m").replace("I", "m") if ("r" in types or "I" in types) else types
        frame.stack[spi] = (types[:lo_idx] + fill * (hi_idx - lo_idx + 1) + types[hi_idx + 1:], None)
        return fill

    def _stack_read(self, frame, off, size) -> Reg:
        spi = (-off - 1) // 8
        types, sp = frame.stack.get(spi, INVALID_SLOT)
        lo_idx = (-(off + size - 1) - 1) % 8
        hi_idx = (-off - 1) % 8
        bytes_ = types[lo_idx:hi_idx + 1]
        if sp is not None and "r" in bytes_:
            if sp.t != SCALAR:
                if size != 8:
                    self.fail("invalid size of register fill")
                self.filled = True
                return sp.copy()
            if off % 8 == 0 and bytes_ == "r" * size and types.count("r") == size:
                self.filled = True
                return sp.copy()
            if off % 8 == 0 and bytes_ == "r" * size and sp.is_const():
                # a narrow fill of a spilled constant (check_stack_read_fixed_off's
                # bpf_stack_narrow_access_ok on little-endian: the low bytes of
                # the register, then coerce_reg_to_size): the constant, truncated
                self.filled = True
                return scalar_const(sp.val & ((1 << (8 * size)) - 1))
            if off % 8 == 0 and size == 8 and types.count("r") < 8 and sp.is_const():
                pass
            return _sized_unknown(size)
        for i, c in enumerate(reversed(bytes_)):
            if (c == "?" and not self.allow_uninit_stack) or c in _SPECIAL_BYTES:
                self.fail(f"invalid read from stack off {off}+{i} size {size}")
        if bytes_ == "0" * size:
            return scalar_const(0)
        return _sized_unknown(size)

    # ---------------------------------------------------------------- helper memory args
    def check_helper_mem(self, st, regno, reg: Reg, size: int, *, write: bool, zero_ok: bool) -> None:
        """check_helper_mem_access: ``size`` bytes at ``reg`` are read (or written) by a helper."""
        t = reg.t
        if t in (PKT, PKT_META):
            self.aux[self.cur_pc].pkt_write |= write
            self._check_packet(regno, reg, reg.off, size, zero_ok)
        elif t == MAP_VALUE:
            self._check_region(regno, reg, reg.off, size, self.maps[reg.map].value_size, "map value", zero_ok)
        elif t == MEM:
            self._check_region(regno, reg, reg.off, size, reg.msize, "memory", zero_ok)
        elif t == CTX:
            if not write and size:
                self._ctx_access(reg, regno, 0, size, False, self.aux[self.cur_pc])
        elif t == STACK:
            self._stack_range(st, regno, reg, size, write, zero_ok)

    def _stack_range(self, st, regno, reg, size, write, zero_ok) -> None:
        frame = st.frames[reg.frame]
        if reg.is_const():
            lo = reg.off + scalar.to_signed(reg.val, 64)
            hi = lo + size
        else:
            if reg.smax >= BPF_MAX_VAR_OFF or reg.smin <= -BPF_MAX_VAR_OFF:
                self.fail(f"invalid unbounded variable-offset indirect access to stack R{regno}")
            lo, hi = reg.off + reg.smin, reg.off + reg.smax + size
        if size == 0 and zero_ok:
            return
        if lo < -MAX_BPF_STACK or hi > 0 or (size == 0 and not zero_ok):
            if reg.is_const():
                self.fail(f"invalid {'write to' if write else 'read from'} stack R{regno} off={lo} size={size}")
            self.fail(f"invalid variable-offset indirect access to stack R{regno} var_off={tnum.fmt(reg.vo)} "
                      f"off={reg.off} size={size}")
        self._grow(st, reg.frame, -lo)
        if not write:
            self._live_reads(st, reg.frame, lo, hi)
        # slot by slot, bytes lo..hi-1 in order (byte b is slot (-b-1)//8,
        # index (-b-1)%8: indices fall as b rises): the first bad byte names the error
        bad = "Dd" if write else ("DdI" if self.allow_uninit_stack else "DdI?")
        stack = frame.stack
        for spi in range((-lo - 1) // 8, (-hi) // 8 - 1, -1):
            i_lo = -min(hi, -spi * 8) - 8 * spi
            i_hi = -max(lo, -(spi + 1) * 8) - 1 - 8 * spi
            types, sp = stack.get(spi, INVALID_SLOT)
            seg = types[i_lo:i_hi + 1]
            for c in bad:
                if c in seg:
                    idx = max(i for i in range(i_lo, i_hi + 1) if types[i] in bad)
                    b = -(idx + 8 * spi) - 1
                    if write:
                        self.fail(f"potential write to dynptr at off={b} disallowed")
                    self.fail(f"invalid indirect read from stack R{regno} off {lo}+{b - lo} size {size}")
            if write:
                if "r" in types:
                    types = types.replace("r", "m")
                stack[spi] = (types[:i_lo] + "m" * (i_hi - i_lo + 1) + types[i_hi + 1:], None)


# struct bpf_sock fields narrow loads may read: exact offsets (the switch's
# plain case labels) and whole ranges (bpf_ctx_range)
_SOCK_NARROW_AT = (4, 8, 12, 44, 72, 76)           # family type protocol src_port state rx_queue_mapping
_SOCK_NARROW_IN = ((24, 4), (28, 16), (52, 4), (56, 16))   # src_ip4 src_ip6 dst_ip4 dst_ip6
_SOCK_SIZE = 80


def _sock_field_ok(off: int, size: int, common: bool) -> bool:
    """bpf_sock_is_valid_access / bpf_sock_common_is_valid_access."""
    if off < 0 or off >= _SOCK_SIZE or off % size:
        return False
    if common and 8 <= off < 24:          # type .. priority: not in a sock_common
        return False
    narrow = size <= 4 and not (size & (size - 1))
    if 48 <= off < 50:                    # dst_port: 4 bytes, or narrow within its 2
        return size == 4 or (narrow and size <= 2)
    if 50 <= off < 52:                    # the padding after dst_port
        return False
    if off in _SOCK_NARROW_AT or any(lo <= off < lo + n for lo, n in _SOCK_NARROW_IN):
        return narrow
    return size == 4                      # bound_dev_if, mark, priority
