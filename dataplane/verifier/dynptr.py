"""Dynptrs (struct bpf_dynptr, 16 bytes on the stack) as the kernel's
verifier tracks them (process_dynptr_func, mark_stack_slots_dynptr,
destroy_if_dynptr_stack_slot, the bpf_dynptr_slice return), for the XDP
dynptr kfuncs bpf_dynptr_from_xdp / bpf_dynptr_slice / bpf_dynptr_slice_rdwr,
and the helpers' local (bpf_dynptr_from_mem over a map value) and ringbuf
(bpf_ringbuf_reserve_dynptr: holds a reference until
bpf_ringbuf_submit_dynptr / _discard_dynptr) dynptrs.

Stack representation (state.py's per-byte slot types): the two slots of an
initialised dynptr have every byte ``D`` (the first slot, at the dynptr's
address, spi) and ``d`` (the second, spi - 1); the first slot holds a
``Reg(DYNPTR)`` with the dynptr's id and its type in ``btf`` ("xdp").  Using
two characters keeps the kernel's first_slot fact in the bytes themselves,
so state comparison sees it.  A slice is a MEM / MEM_OR_NULL register of
``msize`` bytes whose ``btf`` is MEM_DYNPTR_RO / _RW and ``map`` the dynptr
id.  Slices of packet dynptrs die with packet pointers (bpf_xdp_adjust_*),
not when the dynptr's stack slots are overwritten (the kernel only
invalidates slices whose type is exactly PTR_TO_MEM there, and packet slices
carry DYNPTR_TYPE_XDP).
"""
from __future__ import annotations

from dataplane.verifier import scalar
from dataplane.verifier.reg import (DYNPTR, MEM, MEM_DYNPTR_RO, MEM_DYNPTR_RW, MEM_OR_NULL, MEM_RDONLY, STACK, Reg, ptr,
                                    scalar_unknown)
from dataplane.verifier.state import INVALID_SLOT

BPF_DYNPTR_SIZE = 16
FIRST, SECOND = "D" * 8, "d" * 8
DYNPTR_BYTES = frozenset("Dd")
CONST_PTR_TO_DYNPTR = DYNPTR    # register type of a dynptr argument callbacks get (unused by XDP)
REFCOUNTED = frozenset({"ringbuf"})   # dynptr_type_refcounted


def _spi(v, regno: int, r: Reg, *, quiet: bool = False) -> int | None:
    """dynptr_get_spi: the first slot of a dynptr at ``r`` (constant,
    8-aligned, below fp-8); None after printing why (``quiet``: the caller
    prints its own error after ours, as the kernel does)."""
    if not r.is_const():
        v.verbose("dynptr has to be at a constant offset")
        return None
    off = r.off + scalar.to_signed(r.val, 64)
    spi = (-off - 1) // 8
    if off % 8 or spi < 1:
        v.verbose(f"cannot pass in dynptr at an offset={off}")
        return None
    return spi


def is_initialized(v, st, regno: int, r: Reg) -> Reg | None:
    """is_dynptr_reg_valid_init: the DYNPTR reg of an initialised dynptr at ``r``."""
    if r.t != STACK:
        return None
    spi = _spi(v, regno, r)
    if spi is None:
        return None
    stack = st.frames[r.frame].stack
    first, sp = stack.get(spi, INVALID_SLOT)
    second, _ = stack.get(spi - 1, INVALID_SLOT)
    if first != FIRST or second != SECOND or sp is None or sp.t != DYNPTR:
        return None
    return sp


def destroy(v, st, frame, spi: int) -> None:
    """destroy_if_dynptr_stack_slot: a write into either slot of a dynptr
    ends it (both slots become invalid), unless the dynptr holds a
    reference (a ringbuf record): that one must be submitted or discarded."""
    types, _ = frame.stack.get(spi, INVALID_SLOT)
    if types[0] not in DYNPTR_BYTES:
        return
    first = spi if types[0] == "D" else spi + 1
    d = frame.stack.get(first, INVALID_SLOT)[1]
    if d is not None and d.ref:
        v.fail("cannot overwrite referenced dynptr")
    frame.stack[first] = INVALID_SLOT
    frame.stack[first - 1] = INVALID_SLOT
    if st is None or d is None:
        return
    # slices whose type is exactly PTR_TO_MEM (bpf_dynptr_data) go with it
    # (mark_reg_invalid: an unknown scalar for a privileged program)

    def conv(x):
        if x.t in (MEM, MEM_OR_NULL) and x.btf == MEM_DYNPTR_DATA and x.map == d.id:
            return scalar_unknown()
        return None
    st.update_regs(conv)


def uninit_arg(v, st, pc: int, regno: int, argno: int, r: Reg, dtype: str) -> None:
    """A ``ptr__uninit`` dynptr argument: stack memory that becomes an
    initialised dynptr of type ``dtype`` (MEM_UNINIT in process_dynptr_func)."""
    if r.t not in (STACK, CONST_PTR_TO_DYNPTR):
        v.fail(f"arg#{argno} expected pointer to stack or const struct bpf_dynptr")
    if r.t != STACK or _spi(v, regno, r) is None:
        v.fail("Dynptr has to be an uninitialized dynptr")
    # we write BPF_DW bits (8 bytes) at a time
    for i in range(0, BPF_DYNPTR_SIZE, 8):
        v.check_mem_access(st, pc, regno, r, i, 8, write=True, value=scalar_unknown())
    spi = _spi(v, regno, r)
    frame = st.frames[r.frame]
    destroy(v, st, frame, spi)
    destroy(v, st, frame, spi - 1)
    d = ptr(DYNPTR, id=v.new_id(), btf=dtype)
    if dtype in REFCOUNTED:       # mark_stack_slots_dynptr: the record is a reference to release
        d.ref = v.acquire_reference(st, pc)
    frame.stack[spi] = (FIRST, d)
    frame.stack[spi - 1] = (SECOND, None)


def helper_arg_type(v, regno: int, r: Reg) -> None:
    """check_reg_type of a helper's dynptr argument (dynptr_types)."""
    if r.t not in (STACK, CONST_PTR_TO_DYNPTR):
        v.fail(f"R{regno} type={r.type_str()} expected=fp, dynptr_ptr")


def release_arg(v, st, regno: int, argno: int, r: Reg, dtype: str) -> Reg:
    """An OBJ_RELEASE dynptr argument (bpf_ringbuf_submit_dynptr /
    _discard_dynptr): an acquired dynptr on the stack of type ``dtype``."""
    helper_arg_type(v, regno, r)
    if r.t != STACK:
        v.fail("cannot release unowned const bpf_dynptr")
    spi = _spi(v, regno, r)
    sp = st.frames[r.frame].stack.get(spi, INVALID_SLOT)[1] if spi is not None else None
    if sp is None or sp.t != DYNPTR or not sp.ref:
        v.fail(f"arg {regno} is an unacquired reference")
    d = init_arg(v, st, regno, argno, r)
    if d.btf != dtype:
        v.fail(f"Expected a dynptr of type {dtype} as arg #{argno}")
    return d


def release(v, st, r: Reg, d: Reg) -> None:
    """unmark_stack_slots_dynptr: the dynptr's slots are invalid, and its
    reference (with every slice that holds it) is released."""
    spi = _spi(v, 0, r)
    frame = st.frames[r.frame]
    frame.stack[spi] = INVALID_SLOT
    frame.stack[spi - 1] = INVALID_SLOT
    v.release_reference(st, d.ref)


def init_arg(v, st, regno: int, argno: int, r: Reg) -> Reg:
    """An initialised dynptr argument (``const struct bpf_dynptr *``): its DYNPTR reg."""
    if r.t not in (STACK, CONST_PTR_TO_DYNPTR):
        v.fail(f"arg#{argno} expected pointer to stack or const struct bpf_dynptr")
    d = is_initialized(v, st, regno, r)
    if d is None:
        v.fail(f"Expected an initialized dynptr as arg #{argno}")
    return d


def slice_reg(v, d: Reg, size: int, flavour: str) -> Reg:
    """What bpf_dynptr_slice(_rdwr) returns: PTR_TO_MEM | MAYBE_NULL of the
    constant size, tied to the dynptr (MEM_RDONLY for bpf_dynptr_slice)."""
    return ptr(MEM_OR_NULL, msize=size, btf=flavour, map=d.id, id=v.new_id())


MEM_DYNPTR_DATA = "dynptr_mem"     # what bpf_dynptr_data returns: plain writable PTR_TO_MEM


def data_reg(v, d: Reg, size: int) -> Reg:
    """bpf_dynptr_data: PTR_TO_MEM | MAYBE_NULL of the constant size with the
    dynptr's id (no packet flag: it dies with the dynptr, not the packet;
    for an XDP dynptr it is always NULL at run time)."""
    return ptr(MEM_OR_NULL, msize=size, btf=MEM_DYNPTR_DATA, map=d.id, id=v.new_id(), ref=d.ref)


def is_packet_slice(r: Reg) -> bool:
    """reg_is_dynptr_slice_pkt: invalidated with packet pointers."""
    return r.btf in (MEM_DYNPTR_RO, MEM_DYNPTR_RW) and r.t in (MEM, MEM_OR_NULL)


def mem_write_forbidden(r: Reg) -> bool:
    return r.btf == MEM_DYNPTR_RO or r.btf == MEM_RDONLY
