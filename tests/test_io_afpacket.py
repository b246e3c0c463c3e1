"""AF_PACKET TPACKET_V3 sockets (dataplane.io.afpacket) on real veth pairs:
the same verdict semantics as AF_XDP (send back, forward to the peer,
redirect, drop), our own transmissions not seen again, faults named."""
from __future__ import annotations

import errno
import threading
import time

import pytest

from netns_util import packet_socket, sh
from test_io_afxdp import DROP, PASS, REDIRECT, TX, _mac, _recv_all, udp_frame
from dataplane.io import netlink
from dataplane.io.afpacket import PacketError, PacketPort


def _collect(port, want, timeout=3.0, dispatch=False):
    got, end = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        if port.poll(50):
            got += port.frames()
            if dispatch or len(got) < want:
                port.dispatch()
    return got


def test_rx_copies_frames_and_tx_sends_back(pair):
    port = PacketPort(64)
    peer = packet_socket(pair.ns, "p0")
    try:
        port.open(netlink.interface(pair.inner).index)
        frames = [udp_frame(i, _mac(pair.inner), 60 + i) for i in range(8)]
        for f in frames:
            peer.send(f)
        got = _collect(port, 8)
        assert [d for _, d in got] == frames
        # the frames of the last poll are still in the batch: send them back
        n = len(port.frames())
        for k in range(n):
            port.set_verdict(k, TX)
        port.dispatch()
        assert _recv_all(peer, n) == frames[-n:]
        st = port.stats(0)
        assert st["rx_packets"] == 8 and st["tx_packets"] == n and st["dropped"] == 8 - n
        # our own transmissions are not received again (PACKET_IGNORE_OUTGOING)
        assert port.poll(200) == 0
        assert port.kernel_stats(0)["tp_packets"] >= 8
    finally:
        peer.close()
        port.close()


def test_pass_forwards_and_redirect_errors(wire):
    port = PacketPort(64)
    a_side = packet_socket(wire.ns_a, "a0")
    b_side = packet_socket(wire.ns_b, "b0")
    try:
        ia = port.open(netlink.interface(wire.vA).index)
        ib = port.open(netlink.interface(wire.vB).index)
        port.set_peer(ia, ib)
        port.set_peer(ib, ia)
        f = udp_frame(3, _mac(wire.vA))
        a_side.send(f)
        a_side.send(f)
        a_side.send(f)
        got = _collect(port, 3)
        assert len(port.frames()) >= 1
        n = len(port.frames())
        for k in range(n):
            port.set_verdict(k, PASS if k == 0 else REDIRECT, 0 if k == 0 else 1)
        port.dispatch()
        assert _recv_all(b_side, 1) == [f]
        assert port.stats(ia)["redirect_errors"] == n - 1
        assert len(got) == 3
    finally:
        a_side.close()
        b_side.close()
        port.close()


def test_ping_through_inline_packet_port(wire):
    port = PacketPort(64)
    ia = port.open(netlink.interface(wire.vA).index)
    ib = port.open(netlink.interface(wire.vB).index)
    port.set_peer(ia, ib)
    port.set_peer(ib, ia)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            n = port.poll(50)
            for k in range(n):
                port.set_verdict(k, PASS)
            if n:
                port.dispatch()

    t = threading.Thread(target=loop)
    t.start()
    try:
        r = wire.ping(wire.ns_a, wire.B_IP, count=3)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout + r.stderr
    finally:
        stop.set()
        t.join()
        port.close()


def test_faults(pair):
    port = PacketPort(16)
    try:
        with pytest.raises(PacketError) as ei:
            port.open(netlink.interface(pair.inner).index, block_size=5000)
        assert "power of two" in str(ei.value)
        with pytest.raises(PacketError) as ei:
            port.open(999999)
        assert ei.value.kind == errno.ENODEV and "999999" in str(ei.value)
        port.open(netlink.interface(pair.inner).index)
        sh(f"ip link del {pair.inner}")
        with pytest.raises(PacketError) as ei:
            for _ in range(20):
                port.poll(100)
        assert "interface gone" in str(ei.value)
    finally:
        port.close()


def test_cancel(pair):
    port = PacketPort(16)
    try:
        port.open(netlink.interface(pair.inner).index)
        t0 = time.monotonic()
        threading.Timer(0.2, port.cancel).start()
        assert port.poll(5000) == 0 and time.monotonic() - t0 < 2.0
    finally:
        port.close()
