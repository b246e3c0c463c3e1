"""Calls: helpers checked against their prototypes (check_helper_call /
check_func_arg), kfuncs with acquire/release reference tracking, and
bpf-to-bpf calls (new frame) including bpf_loop callbacks."""
from __future__ import annotations

from dataplane.abi import helper_protos as hp
from dataplane.abi.helper_progtypes import unavailable_reason
from dataplane.abi import maps as mt
from dataplane.abi.helpers import BPF_FUNC_MAX_ID, HELPER_IDS, HELPER_NAMES
from dataplane.isa import opcodes as op
from dataplane.verifier.reg import (MAP_PTR_OR_NULL, SOCK_COMMON_OR_NULL, SOCK_OR_NULL, SOCK_TYPES)
from dataplane.verifier.reg import (BTF, BTF_OR_NULL, CTX, FUNC, MAP_PTR, MAP_VALUE,
                                    MAP_VALUE_OR_NULL, MEM, MEM_OR_NULL, OR_NULL, PKT, PKT_END, PKT_META,
                                    SCALAR, STACK, Reg, mark_unknown, ptr, scalar_unknown)
from dataplane.verifier import bprintf, conststr, dynptr, iters, rcu, scalar
from dataplane.verifier.reg import MEM_DYNPTR_RO, MEM_DYNPTR_RW, MEM_MAP_KEY
from dataplane.verifier.state import INVALID_SLOT, Frame
from dataplane.abi.kfuncs import KF_ACQUIRE, KF_RCU, KF_RELEASE, KF_RET_NULL, KF_SLEEPABLE, KF_TRUSTED_ARGS

MAX_CALL_FRAMES = 8
BPF_MAX_VAR_SIZ = 1 << 29
MEM_EXPECTED = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
# maps whose lookups with a constant in-range key never return NULL
_ELIDE_NULL = (mt.BPF_MAP_TYPE_ARRAY, mt.BPF_MAP_TYPE_PERCPU_ARRAY)
MEM_TYPES = (STACK, PKT, PKT_META, MAP_VALUE, MEM)
# compatible_reg_types' btf_id_sock_common_types, as check_reg_type prints them
_SOCK_EXPECTED = "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_"
_EXPECTED = {hp.ARG_CONST_MAP_PTR: ((MAP_PTR,), "map_ptr"), hp.ARG_PTR_TO_CTX: ((CTX,), "ctx"),
             hp.ARG_PTR_TO_RINGBUF_MEM: ((MEM,), "ringbuf_mem"), hp.ARG_PTR_TO_FUNC: ((FUNC,), "func"),
             hp.ARG_CONST_SIZE: ((SCALAR,), "scalar"), hp.ARG_CONST_SIZE_OR_ZERO: ((SCALAR,), "scalar"),
             hp.ARG_CONST_ALLOC_SIZE_OR_ZERO: ((SCALAR,), "scalar"),
             hp.ARG_PTR_TO_STACK_OR_NULL: ((STACK,), "fp"),
             hp.ARG_PTR_TO_SPIN_LOCK: ((MAP_VALUE,), "map_value, ptr_"),
             hp.ARG_PTR_TO_SOCK_COMMON_RELEASE: (SOCK_TYPES + (BTF,), _SOCK_EXPECTED),
             hp.ARG_PTR_TO_BTF_ID_SOCK_COMMON: (SOCK_TYPES + (BTF,), _SOCK_EXPECTED)}
_SOCK_ARGS = (hp.ARG_PTR_TO_SOCK_COMMON_RELEASE, hp.ARG_PTR_TO_BTF_ID_SOCK_COMMON)
BPF_FUNC_SPIN_LOCK, BPF_FUNC_SPIN_UNLOCK = HELPER_IDS["bpf_spin_lock"], HELPER_IDS["bpf_spin_unlock"]
BPF_FUNC_SNPRINTF = HELPER_IDS["bpf_snprintf"]
BPF_FUNC_DYNPTR_FROM_MEM = HELPER_IDS["bpf_dynptr_from_mem"]
BPF_FUNC_FOR_EACH_MAP_ELEM = HELPER_IDS["bpf_for_each_map_elem"]
_MEMLIKE = (hp.ARG_PTR_TO_MAP_KEY, hp.ARG_PTR_TO_MAP_VALUE, hp.ARG_PTR_TO_UNINIT_MAP_VALUE,
            hp.ARG_PTR_TO_MEM, hp.ARG_PTR_TO_MEM_OR_NULL, hp.ARG_PTR_TO_UNINIT_MEM, hp.ARG_PTR_TO_MEM_RW,
            hp.ARG_PTR_TO_FIXED_MEM, hp.ARG_PTR_TO_FIXED_MEM_RW_ALIGNED, hp.ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED,
            hp.ARG_PTR_TO_MEM_OR_NULL_RW)
_FIXED_MEM = (hp.ARG_PTR_TO_FIXED_MEM, hp.ARG_PTR_TO_FIXED_MEM_RW_ALIGNED, hp.ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED)
# how a fixed-size argument's bytes are accessed (MEM_RDONLY / MEM_WRITE / MEM_UNINIT)
_FIXED_ACCESS = {hp.ARG_PTR_TO_FIXED_MEM: hp.ARG_PTR_TO_MEM,
                 hp.ARG_PTR_TO_FIXED_MEM_RW_ALIGNED: hp.ARG_PTR_TO_MEM_RW,
                 hp.ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED: hp.ARG_PTR_TO_UNINIT_MEM}
_ALIGNED = (hp.ARG_PTR_TO_FIXED_MEM_RW_ALIGNED, hp.ARG_PTR_TO_FIXED_UNINIT_MEM_ALIGNED)


def _hname(hid: int) -> str:
    return HELPER_NAMES.get(hid, "unknown")


# Helpers that write the packet without a packet pointer argument (or move
# into code the verifier does not see): tail_call, xdp_store_bytes,
# dynptr_write/dynptr_data (an xdp dynptr's bytes are the packet's).
_PKT_WRITE_HELPERS = frozenset({12, 190, 202, 203})

class CallsMixin:
    def _spin_lock_arg(self, st, regno: int, r, is_lock: bool) -> None:
        """process_spin_lock: the lock must be the map value's bpf_spin_lock
        field at a constant offset; one lock at a time, released by the same
        program path."""
        if not r.is_const():
            self.fail(f"R{regno} doesn't have constant offset. bpf_spin_lock has to be at the constant offset")
        m = self.maps[r.map]
        if not m.has_btf:
            self.fail(f"map '{m.name}' has to have BTF in order to use bpf_spin_lock")
        if m.spin_lock_off < 0:
            self.fail(f"map '{m.name}' has no valid bpf_spin_lock")
        off = r.val + r.off
        if off != m.spin_lock_off:
            self.fail(f"off {off} doesn't point to 'struct bpf_spin_lock' that is at {m.spin_lock_off}")
        lock = (r.map, r.id)
        if is_lock:
            if st.active_lock:
                self.fail("Locking two bpf_spin_locks are not allowed")
            st.active_lock = lock
        else:
            if not st.active_lock:
                self.fail("bpf_spin_unlock without taking a lock")
            if st.active_lock[0] != r.map:
                self.fail("bpf_spin_unlock of different lock")
            st.active_lock = 0

    def _helper_mem_arg(self, st, regno: int, r, size: int, at: str, zero_ok: bool) -> None:
        """The memory argument of a helper: read (MEM_RDONLY), written
        (MEM_UNINIT) or both (MEM_WRITE: the kernel checks it as a write,
        the bytes must be initialised unless uninitialised stack is allowed,
        and they are clobbered)."""
        if at in (hp.ARG_PTR_TO_MEM_RW, hp.ARG_PTR_TO_MEM_OR_NULL_RW):
            if not self.allow_uninit_stack:
                self.check_helper_mem(st, regno, r, size, write=False, zero_ok=zero_ok)
            self.check_helper_mem(st, regno, r, size, write=True, zero_ok=zero_ok)
        else:
            self.check_helper_mem(st, regno, r, size, write=at == hp.ARG_PTR_TO_UNINIT_MEM, zero_ok=zero_ok)

    def _check_arg_alignment(self, regno: int, r, size: int) -> None:
        """check_ptr_alignment(..., strict=true) of a MEM_ALIGNED argument."""
        if size == 1 or r.t not in (STACK, MAP_VALUE, MEM):
            return
        from dataplane.verifier import tnum
        vo = tnum.add(r.vo, (r.off & scalar.M64, 0))
        if vo[0] & (size - 1) or vo[1] & (size - 1):
            what = {STACK: "stack ", MAP_VALUE: "value ", MEM: ""}[r.t]
            hx = lambda v: f"{v:#x}" if v else "0"      # C's %#llx
            var = hx(r.vo[0]) if not r.vo[1] else f"({hx(r.vo[0])}; {hx(r.vo[1])})"
            self.fail(f"misaligned {what}access off {var}+{r.off}+0 size {size}")

    def map_value_not_null(self, r) -> None:
        """mark_ptr_or_null_reg for a non-NULL lookup result: a map-in-map's
        "value" is the inner map, a CONST_PTR_TO_MAP of its template
        (inner_map_meta), with the key/value sizes helpers check against."""
        m = self.maps.get(r.map)
        if m is None or m.inner is None:
            return
        key = (r.map, "inner")
        if key not in self.maps:
            self.maps[key] = m.inner
        r.t = MAP_PTR
        r.map = key
        r.id = 0

    def _kfunc(self, btf_id):
        k = self.kfuncs
        if callable(k) and not isinstance(k, dict):
            return k(btf_id)
        return k.get(btf_id)

    def check_call(self, st, insn, pc: int):
        if insn.is_local_call:
            return self._local_call(st, pc + 1 + insn.imm, pc, cb=False)
        if st.active_lock and not (insn.src == 0 and insn.imm == BPF_FUNC_SPIN_UNLOCK):
            self.fail("function calls are not allowed while holding a lock")
        if insn.is_kfunc_call:
            self._kfunc_call(st, insn, pc)
            return pc + 1
        if insn.src != 0 or insn.opcode != op.OP_CALL:
            self.fail(f"unknown opcode {insn.opcode:02x}")
        return self._helper_call(st, insn.imm, pc)

    # ---------------------------------------------------------------- helpers
    def _helper_call(self, st, hid: int, pc: int):
        if hid < 0 or hid >= BPF_FUNC_MAX_ID:
            self.fail(f"invalid func unknown#{hid}")
        proto = hp.helper_proto(hid)
        name = _hname(hid)
        self.aux[pc].pkt_write |= hid in _PKT_WRITE_HELPERS or bool(proto and proto.changes_pkt_data)
        if proto is None or self.prog_type not in proto.prog_types:
            # the kernel's text when the kernel refuses it too; otherwise
            # the gap is dataplane's, and the message says so
            self.fail(unavailable_reason(self.prog_type, hid))
        if self.kernel.refuses_helper(self.prog_type, hid):    # this kernel build refuses it (kernel_probe)
            self.fail(f"program of this type cannot use helper {name}#{hid}")
        if proto.gpl_only and not self.gpl:
            self.fail("cannot call GPL-restricted function from non-GPL compatible program")
        regs = st.cur.regs
        meta_map = None
        const_key = None
        alloc_size = 0
        release_ref = 0
        callback = None
        dyn = None
        const_str = None
        cast_ref = 0
        dyn_release = None
        for i, at in enumerate(proto.args):
            regno = i + 1
            r = self.read_reg(st, regno)
            if at == hp.ARG_ANYTHING:
                continue
            if at == hp.ARG_PTR_TO_DYNPTR:
                dynptr.helper_arg_type(self, regno, r)
                dyn = dynptr.init_arg(self, st, regno, i, r)
                continue
            if at.startswith("dynptr_uninit:"):
                dynptr.helper_arg_type(self, regno, r)
                dynptr.uninit_arg(self, st, pc, regno, i, r, at.split(":", 1)[1])
                continue
            if at.startswith("dynptr_release:"):
                dyn_release = (r, dynptr.release_arg(self, st, regno, i, r, at.split(":", 1)[1]))
                continue
            if at == hp.ARG_PTR_TO_CONST_STR:
                const_str = conststr.check(self, st, regno, r)
                continue
            if at in _MEMLIKE:
                if at in (hp.ARG_PTR_TO_MEM_OR_NULL, hp.ARG_PTR_TO_MEM_OR_NULL_RW) and r.is_null():
                    continue
                if r.t not in MEM_TYPES:
                    self.fail(f"R{regno} type={r.type_str()} expected={MEM_EXPECTED}")
            else:
                ok, exp = _EXPECTED.get(at, ((), "?"))
                if at == hp.ARG_PTR_TO_STACK_OR_NULL and r.is_null():
                    continue
                if r.t not in ok or (at == hp.ARG_PTR_TO_RINGBUF_MEM and not r.ringbuf):
                    self.fail(f"R{regno} type={r.type_str()} expected={exp}")
                if at in _SOCK_ARGS and r.t == BTF and r.btf not in hp.SOCK_CAST_STRUCTS:
                    # btf_struct_ids_match: the object must begin with a sock_common
                    self.fail(f"R{regno} is of type {r.btf} but sock_common is expected")
            if at == hp.ARG_CONST_MAP_PTR:
                meta_map = r.map
            elif at == hp.ARG_PTR_TO_CTX:
                if r.off or not r.is_const() or r.val:
                    self.fail(f"dereference of modified ctx ptr R{regno} off={r.off} disallowed")
            elif at in (hp.ARG_PTR_TO_MAP_KEY, hp.ARG_PTR_TO_MAP_VALUE, hp.ARG_PTR_TO_UNINIT_MAP_VALUE):
                if meta_map is None:
                    self.fail(f"invalid map_ptr to access map->{'key' if at == hp.ARG_PTR_TO_MAP_KEY else 'value'}")
                m = self.maps[meta_map]
                size = m.key_size if at == hp.ARG_PTR_TO_MAP_KEY else m.value_size
                if at == hp.ARG_PTR_TO_MAP_KEY and hid == 1 and r.t == STACK:
                    const_key = self._const_map_key(st, r, size)
                    if const_key is not None and self.maps[meta_map].map_type in _ELIDE_NULL:
                        self._precise_key_slot(st, r, size)
                # resolve_map_arg_type: a bloom filter's peek reads the value it tests
                write = at == hp.ARG_PTR_TO_UNINIT_MAP_VALUE and not (
                    hid == 89 and m.map_type == mt.BPF_MAP_TYPE_BLOOM_FILTER)
                self.check_helper_mem(st, regno, r, size, write=write, zero_ok=False)
            elif at in _FIXED_MEM:
                # MEM_FIXED_SIZE: checked here with fn->arg_size[]; MEM_WRITE
                # bytes are read (initialised) and then clobbered
                size = proto.arg_sizes[i]
                self._helper_mem_arg(st, regno, r, size, _FIXED_ACCESS[at], False)
                if at in _ALIGNED:
                    self._check_arg_alignment(regno, r, size)
            elif at in (hp.ARG_CONST_SIZE, hp.ARG_CONST_SIZE_OR_ZERO):
                zero_ok = at == hp.ARG_CONST_SIZE_OR_ZERO
                if r.smin < 0:
                    self.fail(f"R{regno} min value is negative, either use unsigned or 'var &= const'")
                if r.umin == 0 and not zero_ok:
                    self.fail(f"R{regno} invalid zero-sized read: u64=[{r.umin},{r.umax}]")
                if r.umax >= BPF_MAX_VAR_SIZ:
                    self.fail(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")
                memr = regs[regno - 1]
                if not memr.is_null():
                    self._helper_mem_arg(st, regno - 1, memr, r.umax, proto.args[i - 1], zero_ok)
                self.mark_precise(st, regno)      # check_mem_size_reg relies on the exact size
            elif at == hp.ARG_CONST_ALLOC_SIZE_OR_ZERO:
                if not r.is_const():
                    self.fail(f"R{regno} is not a known constant'")
                alloc_size = r.val
                self.mark_precise(st, regno)
            elif at == hp.ARG_PTR_TO_RINGBUF_MEM:
                if r.off or not r.is_const() or r.val:
                    self.fail(f"R{regno} must have zero offset when passed to release func")
                if not r.ref or r.ref not in st.refs:
                    self.fail(f"R{regno} must be referenced when passed to release function")
                release_ref = r.ref
            elif at == hp.ARG_PTR_TO_FUNC:
                callback = r.msize
            elif at == hp.ARG_PTR_TO_SOCK_COMMON_RELEASE:
                if not r.ref or r.ref not in st.refs:
                    self.fail(f"R{regno} must be referenced when passed to release function")
                release_ref = r.ref
            elif at == hp.ARG_PTR_TO_BTF_ID_SOCK_COMMON:
                cast_ref = r.ref        # meta.ref_obj_id: a cast is released with its socket
            elif at == hp.ARG_PTR_TO_SPIN_LOCK:
                self._spin_lock_arg(st, regno, r, hid == BPF_FUNC_SPIN_LOCK)
        if hid == BPF_FUNC_SNPRINTF:
            self._check_snprintf_call(st, const_str)
        if hid == 12 and self.maps[meta_map].map_type != mt.BPF_MAP_TYPE_PROG_ARRAY:
            # record_func_key runs before check_map_func_compatibility (the
            # kernel's text has no newline: its log glues "processed" to it)
            self.fail("expected prog array map for tail call")
        if hid == BPF_FUNC_FOR_EACH_MAP_ELEM and self.maps[meta_map].map_type not in hp.FOR_EACH_MAPS:
            # set_map_elem_callback_state, which runs before check_map_func_compatibility
            self.fail("callback function not allowed for map")
        if meta_map is not None:
            mtype = self.maps[meta_map].map_type
            only = hp.MAP_ONLY_WITH.get(mtype)
            if (only is not None and hid not in only) or (proto.map_types is not None and mtype not in proto.map_types):
                self.fail(f"cannot pass map_type {mtype} into func {name}#{hid}")
        if hid == 12 and st.refs:
            for rid, at in sorted(st.refs.items()):   # check_reference_leak names them first
                self.verbose(f"Unreleased reference id={rid} alloc_insn={at}")
            self.fail("tail_call would lead to reference leak")
        if hid == 12:
            rcu.check_leak(self, st, "tail_call")
        if hid == 12 and meta_map is not None:
            r3 = regs[3]     # record_func_key: a constant in-range index is relied upon
            if r3.t == SCALAR and r3.is_const() and r3.val < self.maps[meta_map].max_entries:
                self.mark_precise(st, 3)
        if release_ref:
            self.release_reference(st, release_ref)
        if dyn_release is not None:
            dynptr.release(self, st, *dyn_release)
        if hid == BPF_FUNC_DYNPTR_FROM_MEM and regs[1].t != MAP_VALUE:
            self.fail(f"Unsupported reg type {regs[1].type_str()} for bpf_dynptr_from_mem data")
        if callback is not None:
            # push_callback_call: the callback's entry is queued (its caller
            # frame keeps the call's arguments: the call runs again when the
            # callback returns), and this path goes on past the call as if
            # the callback ran no more
            cbst = st.copy()
            target = self._local_call(cbst, callback, pc, cb=True, helper=hid, meta_map=meta_map)
            cbst.cb_unroll += 1
            self.push_branch(cbst, target, pc)
        for i in range(1, 6):
            regs[i] = Reg()
        regs[0] = self._helper_ret(st, proto, meta_map, alloc_size, pc)
        if proto.ret == hp.RET_PTR_TO_DYNPTR_MEM_OR_NULL:
            regs[0] = dynptr.data_reg(self, dyn, alloc_size)
        if proto.ret == hp.RET_PTR_TO_BTF_ID_OR_NULL:
            # its own null-check id; the reference stays the socket's, so a
            # NULL cast releases nothing (mark_ptr_or_null_regs)
            regs[0] = ptr(BTF_OR_NULL, btf=proto.ret_btf, id=self.new_id(), ref=cast_ref)
        if (const_key is not None and regs[0].t == MAP_VALUE_OR_NULL
                and self.maps[meta_map].map_type in _ELIDE_NULL
                and const_key < self.maps[meta_map].max_entries):
            # can_elide_value_nullness: an array lookup with a constant
            # in-range key cannot fail, so the result is not NULL.
            regs[0].t = MAP_VALUE
        if proto.changes_pkt_data:
            self._clear_pkt_pointers(st)
        return pc + 1

    def _check_snprintf_call(self, st, fmt: bytes) -> None:
        """check_bpf_snprintf_call: the data is an array of u64 (its length
        a multiple of 8: refused with EINVAL and no message) and the
        constant format must pass the bprintf checker with that many words."""
        data_len = st.cur.regs[5].vo[0]
        if data_len % 8:
            self.fail("", "bpf_snprintf: data_len is not a multiple of 8 (EINVAL)")
        if not bprintf.check(fmt, data_len // 8):
            self.fail("Invalid format string")

    def _const_map_key(self, st, r, key_size):
        """get_constant_map_key: the key's value when the stack holds it as
        known zero bytes or as a spilled constant of exactly key_size bytes."""
        if not r.is_const():
            return None
        stack_off = r.off + scalar.to_signed(r.val, 64)
        slot = -stack_off - 1
        if slot < 0:
            return None
        spi, off = slot // 8, slot % 8
        types, sp = st.frames[r.frame].stack.get(spi, INVALID_SLOT)
        zero = 0
        i = off
        while i >= 0 and types[i] == "0":
            zero += 1
            i -= 1
        if zero >= key_size:
            return 0
        if sp is None or types[7] != "r" or sp.t != SCALAR:
            return None
        spill = 0
        i = off
        while i >= 0 and types[i] == "r":
            spill += 1
            i -= 1
        if spill != key_size or not sp.is_const():
            return None
        return sp.val

    def _precise_key_slot(self, st, r, key_size: int) -> None:
        """get_constant_map_key relied on a spilled constant (not on zero
        bytes, which pruning compares anyway): that slot must be precise."""
        slot = -(r.off + scalar.to_signed(r.val, 64)) - 1
        types = st.frames[r.frame].stack.get(slot // 8, INVALID_SLOT)[0]
        zero, i = 0, slot % 8
        while i >= 0 and types[i] == "0":
            zero += 1
            i -= 1
        if zero < key_size:
            self.mark_precise_slot(st, r.frame, slot // 8)

    def _helper_ret(self, st, proto, meta_map, alloc_size, pc) -> Reg:
        if proto.ret == hp.RET_VOID:
            return Reg()
        if proto.ret == hp.RET_PTR_TO_MAP_VALUE_OR_NULL:
            m = self.maps.get(meta_map)
            if m is not None and m.inner is not None and self.kernel.inner_map_lookup == "map_ptr_or_null":
                # this kernel types the inner map at the lookup, not at its NULL check
                key = (meta_map, "inner")
                self.maps.setdefault(key, m.inner)
                return ptr(MAP_PTR_OR_NULL, map=key, id=self.new_id())
            return ptr(MAP_VALUE_OR_NULL, map=meta_map, id=self.new_id())
        if proto.ret in (hp.RET_PTR_TO_SOCKET_OR_NULL, hp.RET_PTR_TO_SOCK_COMMON_OR_NULL):
            # an acquire function: the null-check id is the reference id
            self.new_id()
            rid = self.acquire_reference(st, pc)
            t = SOCK_OR_NULL if proto.ret == hp.RET_PTR_TO_SOCKET_OR_NULL else SOCK_COMMON_OR_NULL
            return ptr(t, id=rid, ref=rid)
        if proto.ret == hp.RET_PTR_TO_MEM_OR_NULL:
            self.new_id()
            rid = self.acquire_reference(st, pc)
            return ptr(MEM_OR_NULL, msize=alloc_size, ringbuf=True, id=rid, ref=rid)
        return scalar_unknown()

    def _clear_pkt_pointers(self, st) -> None:
        def conv(x):
            if x.t in (PKT, PKT_META, PKT_END) or dynptr.is_packet_slice(x):
                y = Reg()
                mark_unknown(y)
                return y
            return None
        st.update_regs(conv)

    # ---------------------------------------------------------------- references
    def acquire_reference(self, st, pc: int) -> int:
        rid = self.new_id()
        st.refs[rid] = pc
        return rid

    def release_reference(self, st, rid: int) -> None:
        """The object is gone: every copy of the pointer becomes unusable
        (privileged programs see it as an unknown scalar, like the kernel)."""
        st.refs.pop(rid, None)

        def conv(x):
            if x.ref == rid and x.t != SCALAR:
                y = Reg()
                mark_unknown(y)
                return y
            return None
        st.update_regs(conv)

    # ---------------------------------------------------------------- kfuncs
    def _kfunc_call(self, st, insn, pc: int) -> None:
        if not self.gpl:   # add_kfunc_call: kfuncs are for GPL-compatible programs only
            self.fail("cannot call kernel function from non-GPL compatible program")
        k = self._kfunc(insn.imm)
        if k is None:
            self.fail(f"kernel btf_id {insn.imm} is not a function")
        self.aux[pc].pkt_write |= k.name.startswith("bpf_dynptr")   # xdp dynptrs write through slices
        regs = st.cur.regs
        release_ref = 0
        if k.flags & KF_SLEEPABLE:      # check_kfunc_call: XDP, TC and socket programs never sleep
            self.fail(f"program must be sleepable to call sleepable kfunc {k.name}")
        trusted = bool(k.flags & (KF_TRUSTED_ARGS | KF_RELEASE | KF_RCU))
        dyn = None          # the initialised dynptr argument (bpf_dynptr_slice*)
        const_size = None   # the __szk argument's value
        it = None           # the iterator argument: (frame, spi, its ITER reg) (iters.py)
        for i, kind in enumerate(k.args):
            regno = i + 1
            r = self.read_reg(st, regno)
            if kind.startswith("iter:"):
                it = iters.arg(self, st, pc, regno, r, k, kind[5:])
                continue
            if kind.startswith("dynptr"):
                if kind.startswith("dynptr_uninit:"):
                    dynptr.uninit_arg(self, st, pc, regno, i, r, kind.split(":", 1)[1])
                else:
                    dyn = dynptr.init_arg(self, st, regno, i, r)
                continue
            if kind == "mem_opt":     # buffer__opt: may be NULL; its size is the next (__szk) argument
                continue
            if kind == "szk":         # buffer__szk: a known constant; the buffer before it holds that much
                self._kfunc_szk(st, regno, i, r, regs[regno - 1])
                const_size = r.val
                continue
            if kind == "scalar" or kind == "size":
                if r.t != SCALAR:
                    self.fail(f"R{regno} is not a scalar")
                if kind == "size":
                    self.check_helper_mem(st, regno - 1, regs[regno - 1], r.umax, write=False, zero_ok=True)
                    self.mark_precise(st, regno)
            elif kind == "ctx":
                if r.t != CTX:
                    self.fail(f"arg#{i} expected pointer to ctx, but got {r.type_str()}")
            elif kind == "mem":
                if r.t not in MEM_TYPES:
                    self.fail(f"arg#{i} expected pointer to memory, but got {r.type_str()}")
            elif kind == "any":       # __ign: the kernel skips every check of this argument
                continue
            elif kind.startswith("mem:"):
                # KF_ARG_PTR_TO_MEM (check_mem_reg): the pointee's bytes, read and written
                if r.t not in MEM_TYPES:
                    self.fail(f"arg#{i} expected pointer to memory, but got {r.type_str()}")
                size = int(kind[4:])
                self.check_helper_mem(st, regno, r, size, write=False, zero_ok=False)
                self.check_helper_mem(st, regno, r, size, write=True, zero_ok=False)
            elif kind == "obj:bpf_map" and r.t == MAP_PTR:
                continue              # reg2btf_ids[CONST_PTR_TO_MAP] is struct bpf_map
            elif kind.startswith("obj:"):
                want = kind[4:]
                if r.t in (BTF_OR_NULL,) or r.is_null():
                    if trusted:
                        self.fail(f"Possibly NULL pointer passed to trusted arg{i}")
                if r.t != BTF:
                    self.fail(f"arg#{i} pointer type STRUCT {want} must point to scalar, or struct with scalar"
                              if r.t == SCALAR else
                              f"kernel function {k.name} args#{i} expected pointer to STRUCT {want} "
                              f"but R{regno} has a pointer to {r.type_str()}")
                if r.btf != want:
                    self.fail(f"kernel function {k.name} args#{i} expected pointer to STRUCT {want} "
                              f"but R{regno} has a pointer to STRUCT {r.btf}")
                if r.off:
                    self.fail(f"R{regno} must have zero offset when passed to release func or trusted arg to kfunc")
                if k.flags & KF_RELEASE and not release_ref:
                    if not r.ref:
                        self.fail(f"release kernel function {k.name} expects refcounted PTR_TO_BTF_ID")
                    if r.ref not in st.refs:
                        self.fail(f"R{regno} must be referenced when passed to release function")
                    release_ref = r.ref
        if k.name in self.kernel.refused_kfuncs:
            # a build that has the kfunc and refuses it once its arguments check out
            self.fail(f"{k.name}() is not allowed")
        rcu.kfunc(self, st, k.name)
        if release_ref:
            self.release_reference(st, release_ref)
        for i in range(1, 6):
            regs[i] = Reg()
        if k.ret in (MEM_DYNPTR_RO, MEM_DYNPTR_RW):
            # bpf_dynptr_slice(_rdwr): PTR_TO_MEM (MEM_RDONLY) | MAYBE_NULL of the constant size
            regs[0] = dynptr.slice_reg(self, dyn, const_size, k.ret)
            return
        if k.ret == "iter_int":
            regs[0] = iters.next_ret(self, it[2])
            iters.process_next(self, st, pc, it)
            return
        if k.ret == "void":
            regs[0] = Reg()
        elif k.ret.startswith("obj:"):
            r = ptr(BTF_OR_NULL if k.flags & KF_RET_NULL else BTF, btf=k.ret[4:])
            if k.flags & KF_RET_NULL:
                r.id = self.new_id()
            if k.flags & KF_ACQUIRE:
                rid = self.acquire_reference(st, pc)
                r.ref = rid
                if r.id:
                    r.id = rid
            regs[0] = r
        else:
            regs[0] = scalar_unknown()

    def _kfunc_szk(self, st, regno: int, argno: int, size, buf) -> None:
        """KF_ARG_PTR_TO_MEM_SIZE with a __szk size: unless the buffer is an
        optional NULL, it must hold ``size`` bytes; the size must be constant."""
        from dataplane.verifier.core import Reject
        if not buf.is_null():
            if size.t != SCALAR:
                self.fail(f"R{regno} is not a scalar")
            if buf.t not in MEM_TYPES:
                self.fail(f"R{regno - 1} type={buf.type_str()} expected={MEM_EXPECTED}")
            try:
                self.check_helper_mem(st, regno - 1, buf, size.umax, write=False, zero_ok=True)
            except Reject:     # the inner reason stays in the log, above ours
                self.fail(f"arg#{argno - 1} arg#{argno} memory, len pair leads to invalid memory access")
        if not size.is_const():
            self.fail(f"R{regno} must be a known constant")

    # ---------------------------------------------------------------- bpf-to-bpf
    def _local_call(self, st, target: int, pc: int, cb: bool, helper: int = 0, meta_map=None):
        if len(st.frames) >= MAX_CALL_FRAMES:
            self.fail(f"the call stack of {len(st.frames) + 1} frames is too deep")
        caller = st.cur
        sp = self.cfg.subprogs.index(target) if target in self.cfg.subprogs else None
        if sp is None:
            self.fail(f"callback at insn {target} is not a subprogram")
        self.live.reset_chain()
        callee = Frame(len(st.frames), sp, pc)
        if cb and helper == BPF_FUNC_FOR_EACH_MAP_ELEM:
            # bpf_for_each_map_elem(map, cb, ctx, flags): cb(map, key, value,
            # ctx) (map_set_for_each_callback_args), verified once like
            # bpf_loop's: any element of the map
            m = self.maps[meta_map]
            callee.regs[1] = caller.regs[1].copy()
            callee.regs[2] = ptr(MEM, msize=m.key_size, btf=MEM_MAP_KEY, map=meta_map)
            callee.regs[3] = ptr(MAP_VALUE, map=meta_map)
            callee.regs[4] = caller.regs[3].copy()
            callee.callsite = -(pc + 1)
        elif cb:
            # bpf_loop(nr, cb, ctx, flags): cb(index, ctx); verified once with
            # an unknown index, like one iteration of any count.
            callee.regs[1] = scalar_unknown()
            callee.regs[2] = caller.regs[3].copy()
            callee.callsite = -(pc + 1)   # negative: a callback frame
        else:
            for i in range(1, 6):
                callee.regs[i] = caller.regs[i].copy()
        st.frames.append(callee)
        return target
