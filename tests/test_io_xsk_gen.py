"""The AF_XDP TX generator (dataplane.io.xsk_gen, benchmarks/live.py's
generator where the kernel refuses live frames) really sends: the frames it
reports arrive at the veth peer, in a namespace made here, byte for byte,
and a run stops at its packet count or its time."""
from __future__ import annotations

import socket
import struct
import time

import pytest

from netns_util import NsPair, in_netns, link_stats, packet_socket
from dataplane.io import netlink
from dataplane.io.afxdp import XskError


def frame(dst_mac: bytes) -> bytes:
    """64 bytes of Ethernet/IPv4/UDP, as benchmarks/live.py sends."""
    payload = b"gen-test".ljust(18, b"\x00")
    udp = struct.pack("!HHHH", 1234, 5678, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 98, 0, 1]),
                     bytes([10, 98, 0, 2]))
    return (dst_mac + bytes.fromhex("02aabbccdd07") + b"\x08\x00" + ip + udp).ljust(64, b"\0")


def _generator(p, fr, **kw):
    from dataplane.io.xsk_gen import XskGenerator
    return XskGenerator(netlink.interface(p.inner).index, 0, fr, **kw)


def _count(s: socket.socket, fr: bytes, want: int, timeout: float = 5.0) -> tuple[int, int]:
    """(frames equal to ``fr``, other frames) read from ``s`` until ``want`` or quiet."""
    s.settimeout(0.3)
    same = other = 0
    end = time.monotonic() + timeout
    while same + other < want and time.monotonic() < end:
        try:
            data = s.recv(4096)
        except socket.timeout:
            break
        if data == fr:
            same += 1
        else:
            other += 1
    return same, other


def test_generator_sends_n_frames_a_receiver_counts(pair):
    n = 3000
    mac = bytes.fromhex(in_netns(pair.ns, netlink.interface, pair.outer).mac.replace(":", ""))
    fr = frame(mac)
    rx = packet_socket(pair.ns, pair.outer)
    try:
        rx.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)    # SO_RCVBUFFORCE: room for every frame of the run
        before = link_stats(pair.ns, pair.outer)["rx_packets"]
        with _generator(pair, fr, ring_size=256) as g:
            sent = g.run(n, 10.0)
            stats = g.stats
        same, other = _count(rx, fr, n)
        got = link_stats(pair.ns, pair.outer)["rx_packets"] - before
    finally:
        rx.close()
    assert sent == n
    assert stats["completed"] == n and stats["queued"] == n and stats["dev_drops"] == 0
    assert stats["kicks"] >= n // 256     # a kick sends at most a ring's worth
    assert got == n, f"peer counted {got} frames, generator sent {n}"
    assert (same, other) == (n, 0)


def test_a_run_is_bounded_by_time(pair):
    fr = frame(b"\xff" * 6)
    with _generator(pair, fr) as g:
        t0 = time.monotonic()
        sent = g.run(1 << 40, 0.3)
        dt = time.monotonic() - t0
        assert 0 < sent < 1 << 40
        assert dt < 0.3 + 0.5, f"a 0.3 s run took {dt:.2f} s"
        # the next run goes on from there, and counts only its own frames
        assert g.run(100, 5.0) == 100
        assert g.stats["completed"] == sent + 100


def test_bad_arguments_and_a_missing_interface_are_errors(pair):
    fr = frame(b"\xff" * 6)
    with pytest.raises(XskError, match="power of two"):
        _generator(pair, fr, ring_size=1000)
    with pytest.raises(ValueError, match="frame of 10 bytes"):
        _generator(pair, fr[:10])
    from dataplane.io.xsk_gen import XskGenerator
    with pytest.raises(XskError, match="bind ifindex"):
        XskGenerator(2 ** 31 - 1, 0, fr)
    g = _generator(pair, fr)
    with pytest.raises(ValueError, match="packets"):
        g.run(0, 1.0)
    with pytest.raises(ValueError, match="seconds"):
        g.run(10, 0.0)
    g.close()
    with pytest.raises(XskError, match="closed"):
        g.run(10, 1.0)
