"""AF_XDP sockets (dataplane.io.afxdp) on real veth pairs: frames arrive in
UMEM byte for byte, verdicts send them back out / to the peer / to a
redirect target or recycle them, and set-up faults name their cause."""
from __future__ import annotations

import errno
import socket
import struct
import threading
import time

import pytest

from netns_util import packet_socket, sh, unique
from dataplane.io import netlink, xsk_prog
from dataplane.io.afxdp import XskError, XskPort

DROP, PASS, TX, REDIRECT = 1, 2, 3, 4


def udp_frame(i: int, dst_mac: bytes, size: int = 64) -> bytes:
    """An Ethernet/IPv4/UDP frame of ``size`` bytes whose payload carries ``i``."""
    payload = struct.pack("!I", i).ljust(size - 42, b"\xab")
    udp = struct.pack("!HHHH", 4000 + i % 100, 5000, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0,
                     bytes([10, 9, 0, 2]), bytes([10, 9, 0, 1]))
    return dst_mac + bytes.fromhex("02aabbccdd01") + b"\x08\x00" + ip + udp


class Attached:
    """The redirect program on some interfaces and one port with a socket on each."""

    def __init__(self, ifnames, nframes=4096, ring=512, batch=64, tx_ring=None, **open_kw):
        self.port = XskPort(nframes, 4096, batch)
        self.progs = []
        try:
            for name in ifnames:
                ifc = netlink.interface(name)
                rp = xsk_prog.RedirectProgram(ifc.rx_queues)
                mode = netlink.xdp_attach(name, rp.fd)
                self.progs.append((name, rp, mode))
                i = self.port.open(ifc.index, 0, rx_size=ring, tx_size=tx_ring or ring, fill_size=ring,
                                   comp_size=ring, **open_kw)
                rp.set_socket(0, self.port.socket(i)["fd"])
        except BaseException:
            self.close()
            raise

    def collect(self, want: int, timeout: float = 3.0) -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []
        end = time.monotonic() + timeout
        while len(got) < want and time.monotonic() < end:
            if self.port.poll(50):
                got += self.port.frames()
                break
        return got

    def close(self):
        for name, rp, mode in self.progs:
            netlink.xdp_detach(name, mode, rp.fd)
            rp.close()
        self.progs = []
        self.port.close()


def _mac(name: str) -> bytes:
    return bytes.fromhex(netlink.interface(name).mac.replace(":", ""))


def _recv_all(s: socket.socket, want: int, timeout: float = 2.0) -> list[bytes]:
    s.settimeout(0.2)
    out, end = [], time.monotonic() + timeout
    while len(out) < want and time.monotonic() < end:
        try:
            data, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        if addr[2] != socket.PACKET_OUTGOING:
            out.append(data)
    return out


def test_rx_frames_in_umem_then_drop_recycles(pair):
    at = Attached([pair.inner])
    try:
        free0 = at.port.free_frames
        tx = packet_socket(pair.ns, "p0")
        frames = [udp_frame(i, _mac(pair.inner), 60 + i) for i in range(10)]
        for f in frames:
            tx.send(f)
        got = []
        end = time.monotonic() + 3
        while len(got) < 10 and time.monotonic() < end:
            if at.port.poll(50):
                got += [d for _, d in at.port.frames()]
                at.port.dispatch()         # verdict 0 (aborted): straight back to the free stack
        assert got == frames
        st = at.port.stats(0)
        assert st["rx_packets"] == 10 and st["rx_bytes"] == sum(map(len, frames)) and st["dropped"] == 10
        at.port.recycle()
        assert at.port.free_frames == free0    # every frame went back (the fill ring was topped up)
        assert set(at.port.kernel_stats(0)) >= {"rx_dropped", "rx_ring_full", "rx_fill_ring_empty_descs"}
        tx.close()
    finally:
        at.close()


def test_tx_sends_back_out_of_the_receiving_interface(pair):
    at = Attached([pair.inner])
    rx = packet_socket(pair.ns, "p0")
    try:
        frames = [udp_frame(i, _mac(pair.inner)) for i in range(5)]
        for f in frames:
            rx.send(f)
        got = at.collect(5)
        assert [d for _, d in got] == frames[:len(got)] and got
        for k in range(len(got)):
            at.port.set_verdict(k, TX)
        at.port.dispatch()
        back = _recv_all(rx, len(got))
        assert back == [d for _, d in got]
        assert at.port.stats(0)["tx_packets"] == len(got)
    finally:
        rx.close()
        at.close()


def test_pass_forwards_inline_and_redirect_targets(wire):
    at = Attached([wire.vA, wire.vB])
    b_side = packet_socket(wire.ns_b, "b0")
    a_side = packet_socket(wire.ns_a, "a0")
    try:
        at.port.set_peer(0, 1)
        at.port.set_peer(1, 0)
        f = udp_frame(1, _mac(wire.vA))
        a_side.send(f)
        got = at.collect(1)
        assert [d for _, d in got] == [f]
        at.port.set_verdict(0, PASS)
        at.port.dispatch()
        assert _recv_all(b_side, 1) == [f]               # PASS: out of the other interface
        # REDIRECT to an interface of the port, and to one it does not own
        a_side.send(f)
        a_side.send(f)
        got = []
        end = time.monotonic() + 3
        while len(got) < 2 and time.monotonic() < end:
            if at.port.poll(50):
                got += at.port.frames()
                if len(got) < 2:
                    at.port.dispatch()
        assert len(got) == 2
        at.port.set_verdict(0, REDIRECT, netlink.interface(wire.vB).index)
        at.port.set_verdict(1, REDIRECT, 1)              # lo: not ours
        at.port.dispatch()
        assert _recv_all(b_side, 1) == [f]
        assert at.port.stats(0)["redirect_errors"] == 1
    finally:
        a_side.close()
        b_side.close()
        at.close()


def test_ping_through_inline_port(wire):
    at = Attached([wire.vA, wire.vB])
    at.port.set_peer(0, 1)
    at.port.set_peer(1, 0)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            n = at.port.poll(50)
            for k in range(n):
                at.port.set_verdict(k, PASS)
            if n:
                at.port.dispatch()

    t = threading.Thread(target=loop)
    t.start()
    try:
        r = wire.ping(wire.ns_a, wire.B_IP, count=3)
        assert r.returncode == 0, r.stdout + r.stderr
        assert " 0% packet loss" in r.stdout
    finally:
        stop.set()
        t.join()
        at.close()


def test_setup_faults_name_their_cause(pair):
    with pytest.raises(XskError) as ei:
        XskPort(64, 3000)
    assert ei.value.kind == errno.EINVAL and "2048 or 4096" in str(ei.value)
    ifc = netlink.interface(pair.inner)
    port = XskPort(1024, 2048, 16)
    try:
        with pytest.raises(XskError) as ei:
            port.open(ifc.index, 7, rx_size=64, tx_size=64, fill_size=64, comp_size=64)
        assert "queue 7" in str(ei.value)
        with pytest.raises(XskError) as ei:
            port.open(ifc.index, 0, mode="zerocopy", rx_size=64, tx_size=64, fill_size=64, comp_size=64)
        assert "zero-copy" in str(ei.value) or ei.value.kind in (errno.EOPNOTSUPP, errno.EINVAL)
        with pytest.raises(XskError):
            port.open(ifc.index, 0, rx_size=100)                 # not a power of two
        first = port.open(ifc.index, 0, rx_size=64, tx_size=64, fill_size=64, comp_size=64)
        assert port.socket(first)["zerocopy"] is False           # veth: copy mode
        other = XskPort(1024, 2048, 16)
        try:
            with pytest.raises(XskError) as ei:
                other.open(ifc.index, 0, rx_size=64, tx_size=64, fill_size=64, comp_size=64)
            assert ei.value.kind == errno.EBUSY and "holds this queue" in str(ei.value)
        finally:
            other.close()
    finally:
        port.close()


def test_cancel_wakes_a_blocked_poll(pair):
    at = Attached([pair.inner])
    try:
        t0 = time.monotonic()
        threading.Timer(0.2, at.port.cancel).start()
        assert at.port.poll(5000) == 0
        assert time.monotonic() - t0 < 2.0
        assert at.port.poll(5000) == 0                 # stays cancelled: returns at once
        assert time.monotonic() - t0 < 2.5
    finally:
        at.close()


def test_deleted_link_is_a_socket_error_not_a_crash(pair):
    at = Attached([pair.inner])
    try:
        sh(f"ip link del {pair.inner}")
        with pytest.raises(XskError) as ei:
            for _ in range(20):
                at.port.poll(100)
        assert f"ifindex {at.port.socket(0)['ifindex']}" in str(ei.value)
    finally:
        at.close()


def test_single_interface_pass_reaches_the_host_through_a_tap(pair):
    """On a stick: PASS -> TAP -> host stack; the host's reply -> TAP -> out
    of the interface (not through the program: egress runs no XDP)."""
    from dataplane.io.tap import Tap
    ifc = netlink.interface(pair.inner)
    tap = Tap(unique("tp"), mac=ifc.mac, mtu=ifc.mtu)
    try:
        sh(f"sysctl -qw net.ipv6.conf.{tap.name}.disable_ipv6=1")
        sh(f"ip addr add 10.9.0.1/24 dev {tap.name}")
        sh(f"ip -n {pair.ns} addr add 10.9.0.2/24 dev p0")
        at = Attached([pair.inner])
        at.port.set_tap(0, tap)
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                n = at.port.poll(50)
                for k in range(n):
                    at.port.set_verdict(k, PASS)
                if n:
                    at.port.dispatch()

        t = threading.Thread(target=loop)
        t.start()
        try:
            r = sh(f"ip netns exec {pair.ns} ping -n -q -c 3 -i 0.2 -W 1 10.9.0.1", check=False)
            assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout + r.stderr
        finally:
            stop.set()
            t.join()
        st = at.port.stats(0)
        assert st["host_packets"] >= 3 and st["host_tx"] >= 3      # echo requests in, replies out
        at.close()
    finally:
        tap.close()
    assert sh(f"ip link show {tap.name}", check=False).returncode != 0   # gone with its file


def test_full_rings_are_counted_drops(pair):
    """An RX ring nobody empties and a TX ring too small for a batch: the
    kernel counts the frames it could not deliver, the port counts the ones
    it could not send, and both keep working afterwards."""
    at = Attached([pair.inner], nframes=2048, ring=256, batch=256, tx_ring=64)
    tx = packet_socket(pair.ns, "p0")
    try:
        f = udp_frame(1, _mac(pair.inner))
        for _ in range(400):                 # nobody polls: 256 fit the RX ring
            tx.send(f)
        time.sleep(0.3)
        k = at.port.kernel_stats(0)
        assert k["rx_ring_full"] + k["rx_dropped"] >= 400 - 256, k
        end = time.monotonic() + 3
        while time.monotonic() < end and not at.port.poll(50):
            pass
        n = len(at.port.frames())
        assert 64 < n <= 256
        for i in range(n):
            at.port.set_verdict(i, TX)
        at.port.dispatch()                   # a batch of n for a TX ring of 64
        st = at.port.stats(0)
        assert st["tx_ring_full"] >= n - 64 and st["tx_packets"] + st["tx_ring_full"] == n
        # still receiving and sending
        tx.send(f)
        end = time.monotonic() + 3
        while time.monotonic() < end and not at.port.poll(50):
            pass
        at.port.dispatch()
        at.port.recycle()
        assert at.port.stats(0)["rx_packets"] > n
    finally:
        tx.close()
        at.close()
