"""FrameBatch: the native packet batch every data path shares.

A batch owns ``capacity`` fixed-size slots (default 4096 bytes, like a page
or an AF_XDP chunk) in one page-aligned buffer, plus an array of
``struct dp_frame`` (csrc/dp_frame.h) describing the packet in each slot.
Packet bytes sit after 256 bytes of headroom, as in the kernel's XDP
buffers, so XDP programs can move ``data``/``data_end``/``data_meta``
within the slot.

Sources fill ``frames[0..count)`` in one native call; the methods here are
per-frame Python accessors for tests and the control plane only.
"""
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport uintptr_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

from dataplane.includes.system cimport posix_memalign

HEADROOM = DP_XDP_HEADROOM
TAILROOM = DP_XDP_TAILROOM
FRAME_SIZE = DP_FRAME_SIZE


cdef class FrameBatch:
    """``FrameBatch(capacity=256, frame_size=4096, headroom=256)``."""

    def __cinit__(self, uint32_t capacity=256, uint32_t frame_size=DP_FRAME_SIZE,
                  uint32_t headroom=DP_XDP_HEADROOM):
        cdef void *buf = NULL
        cdef uint32_t i
        if capacity == 0:
            raise ValueError("capacity must be > 0")
        if frame_size % 64 or frame_size < headroom + DP_XDP_TAILROOM + 64:
            raise ValueError(f"frame_size {frame_size} must be a multiple of 64 and leave room "
                             f"for {headroom} headroom, {DP_XDP_TAILROOM} tailroom and a packet")
        if posix_memalign(&buf, 4096, <size_t>capacity * frame_size) != 0:
            raise MemoryError()
        self.b.buffer = <uint8_t *>buf
        self.b.frames = <dp_frame *>calloc(capacity, sizeof(dp_frame))
        if self.b.frames == NULL:
            raise MemoryError()
        self.b.capacity = capacity
        self.b.frame_size = frame_size
        self.b.headroom = headroom
        self.b.count = 0
        # Every frame always describes a valid (possibly empty) slot, so a
        # consumer never sees a NULL pointer whatever count it is handed.
        for i in range(capacity):
            dp_batch_reset_frame(&self.b, i, 0)

    def __dealloc__(self):
        free(self.b.frames)
        free(self.b.buffer)

    cdef dp_frame *_frame(self, Py_ssize_t i) except NULL:
        if i < 0 or i >= self.b.count:
            raise IndexError(f"frame {i} out of range (count {self.b.count})")
        return &self.b.frames[i]

    def __len__(self):
        return self.b.count

    @property
    def count(self):
        return self.b.count

    @count.setter
    def count(self, uint32_t n):
        if n > self.b.capacity:
            raise ValueError(f"count {n} > capacity {self.b.capacity}")
        self.b.count = n

    @property
    def capacity(self):
        return self.b.capacity

    @property
    def frame_size(self):
        return self.b.frame_size

    @property
    def in_place(self):
        """DP_BATCH_IN_PLACE: fills may point frames at the source's own
        read-only memory (set by the pump for chains that never write
        packets; a source that copied clears it)."""
        return bool(self.b.flags & DP_BATCH_IN_PLACE)

    @in_place.setter
    def in_place(self, bint on):
        # as the pump does before a fill: the reader's DP_BATCH_IN_TRACE goes with the old frames
        self.b.flags = DP_BATCH_IN_PLACE if on else 0

    @property
    def headroom(self):
        return self.b.headroom

    @property
    def max_len(self):
        """Largest packet a fresh slot holds (frame_size - headroom - tailroom)."""
        return dp_batch_max_len(&self.b)

    @property
    def address(self):
        """Address of the ``struct dp_batch`` (for ctypes / JIT-compiled code)."""
        return <uintptr_t>&self.b

    def clear(self):
        self.b.count = 0

    def frame(self, Py_ssize_t i):
        """Bytes of frame ``i`` between data and data_end."""
        cdef dp_frame *f = self._frame(i)
        return PyBytes_FromStringAndSize(<char *>f.data, f.data_end - f.data)

    def set_frame(self, Py_ssize_t i, const uint8_t[::1] data not None, uint64_t ts_ns=0):
        """Put ``data`` in slot ``i`` at the default headroom (count grows to i+1)."""
        cdef Py_ssize_t n = data.shape[0]
        cdef dp_frame *f
        if i < 0 or i >= self.b.capacity:
            raise IndexError(f"frame {i} out of range (capacity {self.b.capacity})")
        if n > dp_batch_max_len(&self.b):
            raise ValueError(f"{n}-byte packet exceeds slot limit {dp_batch_max_len(&self.b)}")
        f = dp_batch_reset_frame(&self.b, <uint32_t>i, <uint32_t>n)
        if n:
            memcpy(f.data, &data[0], n)
        f.ts_ns = ts_ns
        if i >= self.b.count:
            self.b.count = <uint32_t>i + 1
        return None

    def append(self, const uint8_t[::1] data not None, uint64_t ts_ns=0):
        """Add a frame after the last one; returns its index."""
        cdef uint32_t i = self.b.count
        if i >= self.b.capacity:
            raise IndexError(f"batch full (capacity {self.b.capacity})")
        self.set_frame(i, data, ts_ns)
        return i

    def timestamp(self, Py_ssize_t i):
        return self._frame(i).ts_ns

    def set_timestamp(self, Py_ssize_t i, uint64_t ts_ns):
        self._frame(i).ts_ns = ts_ns

    def verdict(self, Py_ssize_t i):
        return self._frame(i).verdict

    def set_verdict(self, Py_ssize_t i, uint32_t v):
        self._frame(i).verdict = v

    def info(self, Py_ssize_t i):
        """All fields of frame ``i`` (pointers as offsets into its slot)."""
        cdef dp_frame *f = self._frame(i)
        return {
            "len": f.data_end - f.data,
            "data_off": f.data - f.hard_start,
            "data_end_off": f.data_end - f.hard_start,
            "meta_off": f.data_meta - f.hard_start,
            "frame_sz": f.frame_sz,
            "ts_ns": f.ts_ns,
            "ifindex": f.ifindex,
            "rx_queue": f.rx_queue,
            "wire_len": (f.data_end - f.data) + f.wire_extra,
            "verdict": f.verdict,
        }

    def __repr__(self):
        return (f"<FrameBatch count={self.b.count} capacity={self.b.capacity} "
                f"frame_size={self.b.frame_size}>")
