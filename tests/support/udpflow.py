"""A bounded, paced UDP flow between two network namespaces, counted per
packet: every datagram carries (source index, sequence number), so a test
can say exactly which packets arrived, which were lost, and whether a
verdict changed once and stayed changed.

    flow = UdpFlow(ns_a, [ip1, ip2], ns_b, ip_b, rate=1000, limit=20000)
    flow.start(); ...; flow.stop()
    flow.sent[i]        packets sent from source i
    flow.got[i]         sequence numbers of source i that arrived (a set)

The rate and the packet limit bound the flow (a test that forgets to stop
it still ends); a sender starved by a loaded machine goes on at the rate
instead of catching up in a burst, and the receiver's buffer holds seconds
of the flow, so a starved receiver thread does not lose packets itself.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

from netns_util import in_netns

_HDR = struct.Struct("!BI")
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)     # asm-generic/socket.h; not in the socket module


class UdpFlow:
    def __init__(self, src_ns: str, src_ips: list[str], dst_ns: str, dst_ip: str, *, port: int = 9100,
                 rate: float = 1000.0, limit: int = 50_000):
        self.rate, self.limit = rate, limit
        self.dst = (dst_ip, port)
        self.tx = [in_netns(src_ns, _udp, ip, 0) for ip in src_ips]
        self.rx = in_netns(dst_ns, _udp, dst_ip, port)
        try:       # beyond net.core.rmem_max (root): seconds of the flow, whatever the receiver's thread waits
            self.rx.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.rx.settimeout(0.1)
        self.sent = [0] * len(src_ips)
        self.got: list[set[int]] = [set() for _ in src_ips]
        self.dups = 0
        self._stop = threading.Event()
        self._done_sending = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True),
                         threading.Thread(target=self._recv, daemon=True)]

    def start(self) -> "UdpFlow":
        for t in self._threads:
            t.start()
        return self

    def _send(self) -> None:
        t0 = time.monotonic()
        try:
            for n in range(self.limit):
                if self._stop.is_set():
                    break
                i = n % len(self.tx)
                self.tx[i].sendto(_HDR.pack(i, self.sent[i]) + b"x" * 32, self.dst)
                self.sent[i] += 1
                ahead = t0 + (n + 1) / self.rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                elif ahead < -0.05:
                    t0 -= ahead        # starved by a loaded machine: go on at the rate, no catch-up burst
        finally:
            self._done_sending.set()

    def _recv(self) -> None:
        idle_after_stop = 0
        while idle_after_stop < 10:           # 1 s without a packet once the sender is done
            try:
                data = self.rx.recv(2048)
            except socket.timeout:
                if self._done_sending.is_set():
                    idle_after_stop += 1
                continue
            idle_after_stop = 0
            i, seq = _HDR.unpack_from(data)
            if seq in self.got[i]:
                self.dups += 1
            self.got[i].add(seq)

    def wait(self, pred, timeout: float = 30.0, what: str = "") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError(f"udp flow: timed out waiting for {what} (sent {self.sent}, "
                             f"got {[len(g) for g in self.got]})")

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        for s in (*self.tx, self.rx):
            s.close()


def _udp(ip: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    return s
