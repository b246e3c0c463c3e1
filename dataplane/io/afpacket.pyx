# distutils: sources = dataplane/io/csrc/pkt.c
"""AF_PACKET (TPACKET_V3) sockets of one live worker, the fallback to
AF_XDP (see csrc/pkt.h).

``PacketPort(batch_size=256, frame_size=4096)``; ``open(ifindex, ...)``
binds one socket per interface; ``set_peer`` says where PASS goes (inline
pairs).  As the Source of a Pump (io/source.pxd), fill() copies received
packets into the pump's batch slots (XDP layout: programs may grow/shrink
them); ``PacketSink(port)`` sends PASS/TX/REDIRECT frames, one sendmmsg per
destination (a copy: nothing is kept).  ``poll``/``frames``/
``set_verdict``/``dispatch`` are the same steps from Python.
"""
import os

from libc.stdint cimport int64_t, uint32_t, uint64_t

from dataplane.errors import DataplaneError

from dataplane.includes.frame cimport dp_batch, dp_frame, dp_frame_len
from dataplane.includes.pkt cimport (dp_pkt_cancel, dp_pkt_dispatch, dp_pkt_kstats, dp_pkt_open, dp_pkt_put,
                                     dp_pkt_rx, dp_pkt_worker_free, dp_pkt_worker_init)

STAT_NAMES = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "tx_errors", "redirect_errors", "dropped",
              "oversize", "host_packets", "blocks")
KSTAT_NAMES = ("tp_packets", "tp_drops", "tp_freeze_q_cnt")


class PacketError(DataplaneError):
    """An AF_PACKET set-up step the kernel refused; ``kind`` is its errno."""


cdef class PacketPort(Source):
    def __cinit__(self, uint32_t batch_size=256, uint32_t frame_size=4096):
        if batch_size == 0 or batch_size > 4096:
            raise ValueError("batch_size: 1..4096")
        self.batch = FrameBatch(batch_size, frame_size)
        cdef int rc = dp_pkt_worker_init(&self.w, batch_size)
        self.inited = True
        if rc < 0:
            raise PacketError(self.w.err.decode("utf-8", "replace"), kind=-rc)

    def __dealloc__(self):
        if self.inited:
            dp_pkt_worker_free(&self.w)

    def close(self):
        if self.inited:
            dp_pkt_worker_free(&self.w)
            self.inited = False

    def _check(self):
        if not self.inited:
            raise PacketError("AF_PACKET port is closed")

    def open(self, uint32_t ifindex, *, uint32_t block_size=1 << 18, uint32_t nblocks=16, uint32_t tov_ms=1,
             uint32_t fanout_id=0):
        """Bind a TPACKET_V3 socket to ``ifindex``; returns its index.
        ``fanout_id`` != 0: join that PACKET_FANOUT (queue mapping) group,
        one socket per worker of the interface."""
        self._check()
        cdef int rc
        with nogil:
            rc = dp_pkt_open(&self.w, ifindex, block_size, nblocks, tov_ms, fanout_id)
        if rc < 0:
            raise PacketError(self.w.err.decode("utf-8", "replace"), kind=-rc)
        return rc

    def _sock(self, int i):
        self._check()
        if i < 0 or <uint32_t>i >= self.w.nsock:
            raise IndexError(f"socket {i}: port has {self.w.nsock}")

    def set_peer(self, int i, int peer):
        self._sock(i)
        if peer >= 0:
            self._sock(peer)
        self.w.socks[i].peer = peer

    @property
    def nsock(self):
        return self.w.nsock if self.inited else 0

    def socket(self, int i):
        self._sock(i)
        return {"fd": self.w.socks[i].fd, "ifindex": self.w.socks[i].ifindex, "peer": self.w.socks[i].peer}

    def stats(self, int i):
        self._sock(i)
        return {n: self.w.socks[i].stats[k] for k, n in enumerate(STAT_NAMES)}

    def kernel_stats(self, int i):
        """PACKET_STATISTICS since the socket opened (names: KSTAT_NAMES)."""
        self._sock(i)
        cdef uint64_t out[3]
        cdef int rc = dp_pkt_kstats(&self.w.socks[i], out)
        if rc < 0:
            raise PacketError(f"PACKET_STATISTICS: {os.strerror(-rc)}", kind=-rc)
        return {n: out[k] for k, n in enumerate(KSTAT_NAMES)}

    def cancel(self):
        self.cancel_flag = 1
        if self.inited:
            dp_pkt_cancel(&self.w)

    @property
    def error(self):
        return self.w.err.decode("utf-8", "replace")

    cdef int fill(self, dp_batch *b, uint64_t wait_ns) except -2:
        cdef int rc, ms
        if not self.inited or self.cancel_flag:
            return 0
        ms = <int>((wait_ns + 999999) // 1000000) if wait_ns < 3600000000000 else 3600000
        with nogil:
            rc = dp_pkt_rx(&self.w, b, ms)
        if rc < 0:
            raise PacketError(self.w.err.decode("utf-8", "replace"), kind=-rc)
        if rc > 0:
            self.packets += <uint32_t>rc
        return rc

    def poll(self, int timeout_ms=100):
        self._check()
        cdef int rc
        with nogil:
            rc = dp_pkt_rx(&self.w, &self.batch.b, timeout_ms)
        if rc < 0:
            raise PacketError(self.w.err.decode("utf-8", "replace"), kind=-rc)
        return rc

    def frames(self):
        """The received batch: [(socket index, bytes)]."""
        cdef dp_batch *b = self.batch.ptr()
        cdef dp_frame *f
        cdef uint32_t i, k
        out = []
        for i in range(b.count):
            f = &b.frames[i]
            src = -1
            for k in range(self.w.nsock):
                if self.w.socks[k].ifindex == f.ifindex:
                    src = k
            out.append((src, (<char *>f.data)[:dp_frame_len(f)]))
        return out

    def set_verdict(self, uint32_t i, uint32_t verdict, uint32_t target=0):
        cdef dp_batch *b = self.batch.ptr()
        if i >= b.count:
            raise IndexError(i)
        b.frames[i].verdict = verdict
        b.frames[i].reserved = target

    def dispatch(self):
        self._check()
        with nogil:
            dp_pkt_dispatch(&self.w, &self.batch.b)


cdef class PacketSink(Sink):
    """``PacketSink(port)``: PASS (to the peer), TX (back out) and REDIRECT
    (to the socket of the target ifindex) for ``port``'s batches."""

    def __cinit__(self, PacketPort port not None):
        self.port = port

    cdef int64_t put(self, dp_batch *b, const uint32_t *idx, uint32_t n) except -1:
        cdef uint32_t taken
        if not self.port.inited:
            return 0
        with nogil:
            taken = dp_pkt_put(&self.port.w, b, idx, n)
        return taken
