"""Precision cases the mutation fuzzer found, each a small raw program whose
verdict must be the running kernel's.  CASES records what the modelled
kernel (abi/kernel.py) did; test_kernel_agrees compares with the live
kernel instead, so a kernel that moves fails with its release named:

* pkt_end marks: after ``if pkt > pkt_end`` the taken side knows the pointer
  is beyond pkt_end (mark_pkt_end), so a later compare of that pointer (or a
  constant offset of it) against pkt_end is decided (is_pkt_ptr_branch_taken);
* a ctx/stack/packet pointer compared with 0 is *not* known non-NULL
  (reg_not_null): both branches stay, e.g. an infinite loop is found;
* the 32-bit signed/unsigned cross-sign deduction (s32 range wrapping, u32
  range in one half of it);
* privileged loads (allow_ptr_leaks): neg/bswap of a pointer gives an unknown
  scalar, an atomic op may take a pointer operand.
"""
from __future__ import annotations

import os

import struct

import pytest

from dataplane.abi import kernel as abi_kernel
from dataplane.errors import VerifierError
from dataplane.io import kbpf
from dataplane.abi.progs import BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP
from dataplane.verifier import MapInfo, decode_program, verify

S = struct.Struct("<BBhi")
XDP, SOCK = BPF_PROG_TYPE_XDP, BPF_PROG_TYPE_SOCKET_FILTER


def slot(c, d=0, s=0, o=0, i=0):
    return S.pack(c, (s << 4) | d, o, i)


PKT_HEAD = [slot(0x61, 2, 1, 0), slot(0x61, 3, 1, 4), slot(0xbf, 4, 2), slot(0x07, 4, 0, 0, 14)]
NEG_W3 = [slot(0xb7), slot(0x61, 2, 1, 0), slot(0xbf, 3, 2), slot(0x57, 3, 0, 0, 0xff), slot(0x27, 3, 0, 0, 16),
          slot(0x84, 3)]

CASES = {   # name: (prog type, insns, kernel verdict)
    # if r4 > pkt_end goto L; ...; L: r4 += 1; if r4 > pkt_end (known) ... else deref
    # 6.18.44: the mark does not survive arithmetic, so the fall-through (r4 <= pkt_end,
    # range 15) is explored and the load at off 15 is out of bounds
    "beyond_pkt_end": (XDP, PKT_HEAD + [slot(0x2d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                        slot(0x07, 4, 0, 0, 1), slot(0x2d, 4, 3, 2), slot(0x71, 0, 4, 0),
                                        slot(0x95), slot(0xb7, 0, 0, 0, 2), slot(0x95)], False),
    # without arithmetic in between the mark decides the compare
    "beyond_pkt_end_kept": (XDP, PKT_HEAD + [slot(0x2d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                             slot(0x2d, 4, 3, 2), slot(0x71, 0, 4, 0),
                                             slot(0x95), slot(0xb7, 0, 0, 0, 2), slot(0x95)], True),
    # a copy keeps the mark; '+= 0' and a register add drop it
    "beyond_pkt_end_copy": (XDP, PKT_HEAD + [slot(0x2d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                             slot(0xbf, 5, 4), slot(0x2d, 5, 3, 2), slot(0x71, 0, 5, 0),
                                             slot(0x95), slot(0xb7, 0, 0, 0, 2), slot(0x95)], True),
    "beyond_pkt_end_add0": (XDP, PKT_HEAD + [slot(0x2d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                             slot(0x07, 4, 0, 0, 0), slot(0x2d, 4, 3, 2), slot(0x71, 0, 4, 0),
                                             slot(0x95), slot(0xb7, 0, 0, 0, 2), slot(0x95)], False),
    "beyond_pkt_end_addreg": (XDP, PKT_HEAD + [slot(0x2d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                               slot(0xb7, 5, 0, 0, 1), slot(0x0f, 4, 5), slot(0x2d, 4, 3, 2),
                                               slot(0x71, 0, 4, 0), slot(0x95), slot(0xb7, 0, 0, 0, 2),
                                               slot(0x95)], False),
    # an AT mark after 'r4 -= 1' no longer decides 'r4 < pkt_end': the taken side reads r4+1
    "at_pkt_end_sub": (XDP, PKT_HEAD + [slot(0x3d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                        slot(0x17, 4, 0, 0, 1), slot(0xad, 4, 3, 2), slot(0xb7, 0, 0, 0, 2),
                                        slot(0x95), slot(0x71, 0, 4, 1), slot(0x95)], False),
    # if r4 >= pkt_end goto L; ...; L: if r4 >= pkt_end (known: at least at the end)
    "at_pkt_end": (XDP, PKT_HEAD + [slot(0x3d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                    slot(0x3d, 4, 3, 2), slot(0x71, 0, 4, 0), slot(0x95),
                                    slot(0xb7, 0, 0, 0, 2), slot(0x95)], True),
    # at pkt_end does not decide '>' (the pointer may equal pkt_end)
    "at_pkt_end_not_beyond": (XDP, PKT_HEAD + [slot(0x3d, 4, 3, 2), slot(0xb7, 0, 0, 0, 1), slot(0x95),
                                               slot(0x2d, 4, 3, 2), slot(0x71, 0, 4, 0), slot(0x95),
                                               slot(0xb7, 0, 0, 0, 2), slot(0x95)], False),
    # r0 = 0; if r1 != 0 goto exit; goto start: ctx is not known non-NULL -> infinite loop
    "ctx_not_non_null": (XDP, [slot(0xb7), slot(0x55, 1, 0, 1, 0), slot(0x05, 0, 0, -3), slot(0x95)], False),
    "u32_cross_sign": (SOCK, NEG_W3 + [slot(0xb6, 3, 0, 2, 15), slot(0x36, 3, 0, 1, -4096), slot(0x71, 0, 3, 0),
                                       slot(0x95)], True),
    "u32_cross_sign_64": (SOCK, NEG_W3 + [slot(0xb6, 3, 0, 2, 15), slot(0x35, 3, 0, 1, 31), slot(0x71, 0, 3, 0),
                                          slot(0x95)], True),
    "u32_no_deduction": (SOCK, NEG_W3 + [slot(0xb6, 3, 0, 2, 15), slot(0x36, 3, 0, 1, -8), slot(0x71, 0, 3, 0),
                                         slot(0x95)], False),
    "neg_pointer": (XDP, [slot(0xbf, 0, 1), slot(0x87, 0), slot(0x95)], True),
    "bswap_pointer": (XDP, [slot(0xbf, 0, 10), slot(0xd7, 0, 0, 0, 64), slot(0x95)], True),
    "neg_pointer_then_deref": (XDP, [slot(0xbf, 2, 1), slot(0x87, 2), slot(0x71, 0, 2, 0), slot(0x95)], False),
    # r0 = *(u8 *)skb[23]; if r0 > 255 goto L; ...; L: r0 = r5 (uninit): LD_ABS leaves R0
    # unknown in the kernel (not bounded by the load size), so L is explored
    "ld_abs_result_unbounded": (SOCK, [slot(0xbf, 6, 1), slot(0x30, 0, 0, 0, 23), slot(0x25, 0, 0, 2, 255),
                                       slot(0xb7), slot(0x95), slot(0xbf, 0, 5), slot(0x95)], False),
    # r1 = K; *(u64 *)(fp - 8) = r1; r2 = narrow load of fp-8; r0 = *(u8 *)(fp - 16 + r2):
    # a narrow fill at the slot's start keeps the spilled constant, truncated (kernel:
    # bpf_stack_narrow_access_ok, coerce_reg_to_size); the upper half is unknown
    **{f"narrow_fill_{name}": (XDP, [slot(0xb7, 1, 0, 0, k), slot(0x7b, 10, 1, -8), slot(ld, 2, 10, off),
                                     slot(0x7a, 10, 0, -16, 0), slot(0xbf, 3, 10), slot(0x07, 3, 0, 0, -16),
                                     slot(0x0f, 3, 2), slot(0x71, 0, 3, 0), slot(0x95)], ok)
       for name, k, ld, off, ok in (("u32", 3, 0x61, -8, True), ("u16", 5, 0x69, -8, True),
                                    ("u8_truncated", 0x103, 0x71, -8, True), ("u8_big", 0x1f, 0x71, -8, False),
                                    ("upper_half", 3, 0x61, -4, False))},
    # *(u64 *)(fp - 8) = 0; lock *(u64 *)(fp - 8) += r1 (a ctx pointer)
    "atomic_pointer_operand": (XDP, [slot(0x7a, 10, 0, -8, 0), slot(0xdb, 10, 1, -8, 0), slot(0xb7), slot(0x95)],
                               True),
}


def _dataplane_ok(ptype, raw) -> bool:
    try:
        verify(decode_program(raw), prog_type="xdp" if ptype == XDP else "socket", log_level=0)
        return True
    except VerifierError:
        return False


@pytest.mark.parametrize("name", list(CASES))
def test_dataplane_verdict(name):
    ptype, insns, ok = CASES[name]
    assert _dataplane_ok(ptype, b"".join(insns)) is ok


@pytest.mark.parametrize("name", list(CASES))
def test_kernel_agrees(root_required, name):
    """The oracle is the running kernel, not the recorded verdict."""
    ptype, insns, _ = CASES[name]
    try:
        kbpf.prog_load(b"".join(insns), ptype, "GPL", log_level=0).close()
        kernel = True
    except kbpf.KernelBpfError:
        kernel = False
    mine = _dataplane_ok(ptype, b"".join(insns))
    assert mine is kernel, (f"running kernel {abi_kernel.running()} says {'accept' if kernel else 'reject'}, "
                            f"dataplane ({abi_kernel.describe()}) says {'accept' if mine else 'reject'}")


def _map_prog(fd: int, atomic_off: int) -> bytes:
    # key 0 on the stack; r0 = lookup; if r0 == 0 exit; lock *(u64 *)(r0 + off) += r1(=1)
    return b"".join([slot(0x62, 10, 0, -4, 0), slot(0xbf, 2, 10), slot(0x07, 2, 0, 0, -4),
                     slot(0x18, 1, 1, 0, fd), slot(0), slot(0x85, 0, 0, 0, 1), slot(0x15, 0, 0, 2, 0),
                     slot(0xb7, 1, 0, 0, 1), slot(0xdb, 0, 1, atomic_off, 0), slot(0xb7), slot(0x95)])


@pytest.mark.parametrize("off,ok", [(0, True), (8, True), (2, False), (4, False)])
def test_atomic_on_map_value_is_strictly_aligned(off, ok, root_required):
    fd = kbpf.map_create(2, 4, 16, 1, name="f3align")
    try:
        raw = _map_prog(fd, off)
        try:
            verify(decode_program(raw), prog_type="xdp", maps={fd: MapInfo(2, 4, 16, 1)}, log_level=0)
            mine = True
        except VerifierError as e:
            mine = False
            assert "misaligned value access" in e.summary
        assert mine is ok
        try:
            kbpf.prog_load(raw, XDP, "GPL", log_level=0).close()
            kernel = True
        except kbpf.KernelBpfError:
            kernel = False
        assert kernel is ok
    finally:
        os.close(fd)
