# distutils: sources = dataplane/io/csrc/xsk.c dataplane/io/csrc/xsk_setup.c
"""AF_XDP sockets of one live worker: one UMEM shared by every socket of the
worker (see csrc/xsk.h for the frame life cycle).

``XskPort(nframes=4096, frame_size=4096, batch_size=256)`` maps the UMEM;
``open(ifindex, queue, ...)`` binds one socket per (interface, queue) on
it; ``set_peer``/``set_tap`` say where PASS goes.  The port is the Source
of a Pump (io/source.pxd): fill() waits for the RX rings and puts frames
that point into the UMEM in the pump's batch (the chain runs on them in
place), release() recycles what no sink kept.  ``XskSink(port)`` is the
Sink for PASS, TX and REDIRECT: descriptors onto the TX rings (the frame is
kept until its completion).  ``poll``/``frames``/``set_verdict``/
``dispatch`` are the same steps from Python, for tests and tools.
"""
import os

from libc.stdint cimport int64_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free

from dataplane.errors import DataplaneError

from dataplane.includes.frame cimport dp_frame, dp_frame_len
from dataplane.io.source cimport DP_NEED_GIL
from dataplane.includes.xsk cimport (dp_xsk, dp_xsk_cancel, dp_xsk_dispatch, dp_xsk_kstats, dp_xsk_open,
                                     dp_xsk_put, dp_xsk_recycle, dp_xsk_release, dp_xsk_rx, dp_xsk_worker_free,
                                     dp_xsk_worker_init)

# include/uapi/linux/if_xdp.h
XDP_COPY = 1 << 1
XDP_ZEROCOPY = 1 << 2
XDP_USE_NEED_WAKEUP = 1 << 3

BIND_MODES = ("copy", "zerocopy", "auto")

STAT_NAMES = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_completed", "tx_ring_full",
              "fill_empty", "redirect_errors", "host_packets", "host_errors", "dropped", "wakeups",
              "tx_errors", "host_tx")
KSTAT_NAMES = ("rx_dropped", "rx_invalid_descs", "tx_invalid_descs", "rx_ring_full",
               "rx_fill_ring_empty_descs", "tx_ring_empty_descs")


class XskError(DataplaneError):
    """An AF_XDP set-up step the kernel refused; ``kind`` is its errno."""


cdef class XskPort(Source):
    def __cinit__(self, uint32_t nframes=4096, uint32_t frame_size=4096, uint32_t batch_size=256):
        cdef int rc
        self._taps = []
        if batch_size == 0 or batch_size > 4096:
            raise ValueError("batch_size: 1..4096")
        self.batch_size = batch_size
        self.b.frames = <dp_frame *>calloc(batch_size, sizeof(dp_frame))
        if self.b.frames == NULL:
            raise MemoryError()
        self.b.capacity = batch_size
        self.b.count = 0
        self.b.frame_size = frame_size
        self.b.headroom = 256
        rc = dp_xsk_worker_init(&self.w, nframes, frame_size, batch_size)
        self.inited = True
        self.w.spin_ns = 20000
        self.w.nap_ns = 1000000
        if rc < 0:
            msg = self.w.err.decode("utf-8", "replace")
            raise XskError(msg, kind=-rc)
        self.b.buffer = self.w.area

    def __dealloc__(self):
        if self.inited:
            dp_xsk_worker_free(&self.w)
        free(self.b.frames)

    def close(self):
        """Close every socket and unmap the UMEM (idempotent)."""
        if self.inited:
            dp_xsk_worker_free(&self.w)
            self.inited = False
        for t in self._taps:
            t.close()
        self._taps = []

    def _check(self):
        if not self.inited:
            raise XskError("AF_XDP port is closed")

    def open(self, uint32_t ifindex, uint32_t queue, *, str mode="copy", bint need_wakeup=True,
             uint32_t rx_size=2048, uint32_t tx_size=2048, uint32_t fill_size=2048, uint32_t comp_size=2048,
             int busy_poll_budget=0):
        """Bind a socket to (ifindex, queue); returns its index in this port.

        ``mode``: "copy" (XDP_COPY, what veth offers), "zerocopy"
        (XDP_ZEROCOPY: fails where the driver has none) or "auto" (the
        kernel's choice).  Only the first socket's mode/need_wakeup count:
        later sockets share its UMEM."""
        self._check()
        if mode not in BIND_MODES:
            raise XskError(f"AF_XDP mode {mode!r}: expected one of {', '.join(BIND_MODES)}")
        cdef uint32_t flags = {"copy": XDP_COPY, "zerocopy": XDP_ZEROCOPY, "auto": 0}[mode]
        if need_wakeup:
            flags |= XDP_USE_NEED_WAKEUP
        cdef int rc
        with nogil:
            rc = dp_xsk_open(&self.w, ifindex, queue, flags, rx_size, tx_size, fill_size, comp_size,
                             busy_poll_budget)
        if rc < 0:
            raise XskError(self.w.err.decode("utf-8", "replace"), kind=-rc)
        return rc

    def _sock(self, int i):
        self._check()
        if i < 0 or <uint32_t>i >= self.w.nsock:
            raise IndexError(f"socket {i}: port has {self.w.nsock}")

    def set_peer(self, int i, int peer):
        """PASS on socket ``i`` goes out of socket ``peer`` (-1: to the TAP, or dropped)."""
        self._sock(i)
        if peer >= 0:
            self._sock(peer)
        self.w.socks[i].peer = peer

    def set_tap(self, int i, tap):
        """PASS on socket ``i`` is written to ``tap`` (a TAP device file, kept open)."""
        self._sock(i)
        self._taps.append(tap)
        if self.w.socks[i].tap_fd < 0:
            self.w.ntap += 1
        self.w.socks[i].tap_fd = tap.fileno()

    @property
    def nsock(self):
        return self.w.nsock if self.inited else 0

    @property
    def frame_size(self):
        return self.w.frame_size

    @property
    def nframes(self):
        return self.w.nframes

    @property
    def free_frames(self):
        """Frames neither in a ring nor in the batch (kernel-side rings not counted)."""
        return self.w.nfree

    @property
    def busy_poll(self):
        return bool(self.w.busy_poll)

    @property
    def spin_us(self):
        """How long a receive looks at empty RX rings before sleeping in poll()."""
        return self.w.spin_ns / 1000.0

    @spin_us.setter
    def spin_us(self, double us):
        if us < 0 or us > 1e6:
            raise ValueError("spin_us: 0..1000000")
        self.w.spin_ns = <uint64_t>(us * 1000)

    @property
    def nap_us(self):
        """Under load, how long each wait for an empty RX ring sleeps on a
        timer instead of in poll() (0: never; see csrc/xsk.c)."""
        return self.w.nap_ns / 1000.0

    @nap_us.setter
    def nap_us(self, double us):
        if us < 0 or us > 100000:
            raise ValueError("nap_us: 0..100000")
        self.w.nap_ns = <uint64_t>(us * 1000)

    @property
    def naps(self):
        """Naps taken so far (under load, instead of poll())."""
        return self.w.naps

    def socket(self, int i):
        """{"fd", "ifindex", "queue", "zerocopy", "peer"} of socket ``i``."""
        self._sock(i)
        cdef dp_xsk *s = &self.w.socks[i]
        return {"fd": s.fd, "ifindex": s.ifindex, "queue": s.queue, "zerocopy": bool(s.zerocopy),
                "peer": s.peer}

    def stats(self, int i):
        """Native counters of socket ``i`` (names: STAT_NAMES)."""
        self._sock(i)
        return {n: self.w.socks[i].stats[k] for k, n in enumerate(STAT_NAMES)}

    def kernel_stats(self, int i):
        """XDP_STATISTICS of socket ``i`` (names: KSTAT_NAMES)."""
        self._sock(i)
        cdef uint64_t out[6]
        cdef int rc = dp_xsk_kstats(&self.w.socks[i], out)
        if rc < 0:
            raise XskError(f"XDP_STATISTICS: {os.strerror(-rc)}", kind=-rc)
        return {n: out[k] for k, n in enumerate(KSTAT_NAMES)}

    def cancel(self):
        """Wake a blocked receive; every later receive returns at once."""
        self.cancel_flag = 1
        if self.inited:
            dp_xsk_cancel(&self.w)

    # -- the Source -----------------------------------------------------

    cdef int fill(self, dp_batch *b, uint64_t wait_ns) except -2:
        cdef int rc, ms
        if not self.inited or self.cancel_flag:
            return 0
        ms = <int>((wait_ns + 999999) // 1000000) if wait_ns < 3600000000000 else 3600000
        with nogil:
            rc = dp_xsk_rx(&self.w, b, ms)
        if rc < 0:
            raise XskError(self.w.err.decode("utf-8", "replace"), kind=-rc)
        if rc > 0:
            self.packets += <uint32_t>rc
        return rc

    cdef int release(self, dp_batch *b) except -1:
        if self.inited:
            with nogil:
                dp_xsk_release(&self.w, b)
        return 0

    # The pump's GIL-free path (io/source.pxd): the same calls, so a worker
    # runs its batch loop without taking the GIL per batch and the workers of
    # several queues run at the same time. Only an error goes back to the GIL
    # twin, which receives again and raises it (a dead socket stays dead).
    cdef int fill_nogil(self, dp_batch *b, uint64_t wait_ns) noexcept nogil:
        cdef int rc, ms
        if not self.inited or self.cancel_flag:
            return 0
        ms = 3600000
        if wait_ns < 3600000000000ULL:
            ms = <int>((wait_ns + 999999ULL) // 1000000ULL)
        rc = dp_xsk_rx(&self.w, b, ms)
        if rc < 0:
            return DP_NEED_GIL
        self.packets += <uint32_t>rc
        return rc

    cdef int release_nogil(self, dp_batch *b) noexcept nogil:
        if self.inited:
            dp_xsk_release(&self.w, b)
        return 0

    @property
    def error(self):
        """The message of the latest failed step."""
        return self.w.err.decode("utf-8", "replace")

    # -- the same steps from Python (tests, tools) ----------------------

    def poll(self, int timeout_ms=100):
        """Receive one batch (waiting up to ``timeout_ms``); returns its size."""
        self._check()
        cdef int rc
        with nogil:
            rc = dp_xsk_rx(&self.w, &self.b, timeout_ms)
        if rc < 0:
            raise XskError(self.w.err.decode("utf-8", "replace"), kind=-rc)
        return rc

    def frames(self):
        """The received batch: [(socket index, bytes)]."""
        cdef uint32_t i
        cdef dp_frame *f
        out = []
        for i in range(self.b.count):
            f = &self.b.frames[i]
            out.append((self._src(i), (<char *>f.data)[:dp_frame_len(f)]))
        return out

    def _src(self, uint32_t i):
        cdef uint32_t k
        for k in range(self.w.nsock):
            if self.w.socks[k].ifindex == self.b.frames[i].ifindex:
                return k
        return -1

    def set_verdict(self, uint32_t i, uint32_t verdict, uint32_t target=0):
        """Verdict of batch frame ``i`` (and REDIRECT target ifindex)."""
        if i >= self.b.count:
            raise IndexError(i)
        self.b.frames[i].verdict = verdict
        self.b.frames[i].reserved = target

    def dispatch(self):
        """Send/recycle the batch by its verdicts (see csrc/xsk.h)."""
        self._check()
        with nogil:
            dp_xsk_dispatch(&self.w, &self.b)

    def recycle(self):
        """Reap completions and refill the fill rings."""
        self._check()
        with nogil:
            dp_xsk_recycle(&self.w)

    @property
    def address(self):
        return <uintptr_t>&self.b


cdef class XskSink(Sink):
    """``XskSink(port)``: PASS (to the peer socket or the TAP), TX (back out
    of the receiving socket) and REDIRECT (to the socket of the target
    ifindex) for the frames of ``port``'s batches."""

    def __cinit__(self, XskPort port not None):
        self.port = port

    cdef int64_t put(self, dp_batch *b, const uint32_t *idx, uint32_t n) except -1:
        cdef uint32_t taken
        if not self.port.inited:
            return 0
        with nogil:
            taken = dp_xsk_put(&self.port.w, b, idx, n)
        return taken

    cdef int64_t put_nogil(self, dp_batch *b, const uint32_t *idx, uint32_t n) noexcept nogil:
        if not self.port.inited:
            return 0
        return dp_xsk_put(&self.port.w, b, idx, n)
