"""AF_XDP workers under load wait for their RX ring on a timer (naps), not
in poll(), and light traffic keeps poll(): dataplane.io.afxdp's nap_us, on
a veth pair flooded by the AF_XDP TX generator from a namespace."""
from __future__ import annotations

import threading
import time

from netns_util import in_netns, packet_socket
from test_io_afxdp import Attached, _mac, udp_frame
from dataplane.io import netlink


def _flood(pair, n: int) -> tuple[threading.Thread, dict]:
    """n frames from p0 (in the namespace) to pair.inner, on a thread."""
    from dataplane.io.xsk_gen import XskGenerator
    fr = udp_frame(1, _mac(pair.inner))
    gen = in_netns(pair.ns, lambda: XskGenerator(netlink.interface("p0").index, 0, fr, ring_size=1024))
    out: dict = {}

    def run():
        try:
            out["sent"] = gen.run(n, 20.0)
        finally:
            gen.close()

    t = threading.Thread(target=run)
    t.start()
    return t, out


def _receive(port, want: int, timeout: float) -> int:
    got, end = 0, time.monotonic() + timeout
    while got < want and time.monotonic() < end:
        k = port.poll(50)
        if k:
            got += k
            port.dispatch()        # verdict 0: recycled
    return got


def _kernel_drops(port) -> int:
    k = port.kernel_stats(0)
    return k["rx_ring_full"] + k["rx_dropped"]


def test_a_flood_is_received_with_naps_and_light_traffic_without(pair):
    n = 30000
    at = Attached([pair.inner], ring=8192, batch=256)
    try:
        assert at.port.nap_us == 1000.0          # the default
        t, out = _flood(pair, n)
        got = _receive(at.port, n, 20.0)
        t.join(30)
        assert out["sent"] == n
        got += _receive(at.port, n - got - _kernel_drops(at.port), 1.0)
        # every frame sent was received or dropped by the kernel for lack of room, and counted once
        assert got + _kernel_drops(at.port) == n and at.port.stats(0)["rx_packets"] == got
        assert got >= n // 2
        naps = at.port.naps
        assert naps > 0, "a worker under load never napped"
        # light traffic (one frame per 10 ms) is not load: no naps once the flood's are over
        _receive(at.port, 1, 0.2)
        naps = at.port.naps
        tx = packet_socket(pair.ns, "p0")
        try:
            for i in range(10):
                tx.send(udp_frame(i, _mac(pair.inner)))
                assert _receive(at.port, 1, 2.0) == 1
                time.sleep(0.01)
        finally:
            tx.close()
        assert at.port.naps == naps
    finally:
        at.close()


def test_nap_us_0_never_naps(pair):
    n = 10000
    at = Attached([pair.inner], ring=8192, batch=256)
    try:
        at.port.nap_us = 0
        t, out = _flood(pair, n)
        got = _receive(at.port, n, 20.0)
        t.join(30)
        got += _receive(at.port, n - got - _kernel_drops(at.port), 1.0)
        assert out["sent"] == n and got + _kernel_drops(at.port) == n
        assert at.port.naps == 0
    finally:
        at.close()
