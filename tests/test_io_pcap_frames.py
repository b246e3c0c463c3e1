"""FrameBatch: the XDP-style slot layout and the C struct other code relies on."""
from __future__ import annotations

import ctypes

import pytest

from dataplane.io.frames import FRAME_SIZE, HEADROOM, TAILROOM, FrameBatch


class DpFrame(ctypes.Structure):
    """Mirror of struct dp_frame in dataplane/io/csrc/dp_frame.h."""
    _fields_ = [("data", ctypes.c_void_p), ("data_end", ctypes.c_void_p), ("data_meta", ctypes.c_void_p),
                ("hard_start", ctypes.c_void_p), ("ts_ns", ctypes.c_uint64), ("frame_sz", ctypes.c_uint32),
                ("ifindex", ctypes.c_uint32), ("rx_queue", ctypes.c_uint32), ("wire_extra", ctypes.c_uint32),
                ("verdict", ctypes.c_uint32), ("reserved", ctypes.c_uint32)]


class DpBatch(ctypes.Structure):
    _fields_ = [("frames", ctypes.POINTER(DpFrame)), ("count", ctypes.c_uint32), ("capacity", ctypes.c_uint32),
                ("buffer", ctypes.c_void_p), ("frame_size", ctypes.c_uint32), ("headroom", ctypes.c_uint32)]


def test_constants_match_kernel():
    assert (HEADROOM, TAILROOM, FRAME_SIZE) == (256, 320, 4096)
    assert ctypes.sizeof(DpFrame) == 64


def test_c_struct_layout_through_address():
    b = FrameBatch(4)
    b.append(b"hello", 123)
    b.append(b"world!", 456)
    b.set_verdict(1, 3)
    c = DpBatch.from_address(b.address)
    assert (c.count, c.capacity, c.frame_size, c.headroom) == (2, 4, 4096, 256)
    assert c.buffer % 4096 == 0  # page aligned, usable as AF_XDP UMEM
    for i, (data, ts) in enumerate([(b"hello", 123), (b"world!", 456)]):
        f = c.frames[i]
        assert f.hard_start == c.buffer + i * 4096
        assert f.data == f.data_meta == f.hard_start + 256
        assert f.data_end - f.data == len(data) and f.frame_sz == 4096 and f.ts_ns == ts
        assert ctypes.string_at(f.data, len(data)) == data
    assert c.frames[1].verdict == 3
    # a native consumer that moves data (bpf_xdp_adjust_head) is seen by Python
    c.frames[0].data += 1
    assert b.frame(0) == b"ello" and b.info(0)["data_off"] == 257
    c.frames[1].data_end -= 1
    assert b.frame(1) == b"world"


def test_slot_limits():
    b = FrameBatch(2)
    assert b.max_len == 4096 - 256 - 320
    b.set_frame(0, b"\x01" * b.max_len)
    with pytest.raises(ValueError):
        b.set_frame(0, b"\x01" * (b.max_len + 1))
    with pytest.raises(IndexError):
        b.set_frame(2, b"x")
    big = FrameBatch(1, frame_size=9216)
    assert big.max_len == 9216 - 576
    with pytest.raises(ValueError):
        FrameBatch(1, frame_size=500)
    with pytest.raises(ValueError):
        FrameBatch(0)


def test_count_and_accessors():
    b = FrameBatch(3)
    assert len(b) == 0
    with pytest.raises(IndexError):
        b.frame(0)
    b.set_frame(2, b"c")  # count grows to cover it; earlier slots are empty frames
    assert len(b) == 3 and b.frame(0) == b"" and b.frame(2) == b"c"
    with pytest.raises(IndexError):
        b.append(b"d")
    b.count = 1
    assert len(b) == 1
    with pytest.raises(ValueError):
        b.count = 4
    b.set_timestamp(0, 77)
    assert b.timestamp(0) == 77
    b.clear()
    assert len(b) == 0 and b.append(bytearray(b"zz")) == 0 and b.frame(0) == b"zz"
