"""Kernel oracle on live traffic: the sample firewall runs in the dataplane
(AF_XDP, AF_PACKET) on vA on a fixed set of frames sent into it, then the
same object is attached natively to vA in the kernel (kload + netlink) and
the same frames are sent again.  Per-verdict counts and map contents must
be the same (per-CPU values summed: which CPU ran a packet differs).

The dataplane side is a single-interface hook, so PASS goes where the
kernel's XDP_PASS goes: to the host stack of this namespace (through a TAP
for AF_XDP, the kernel's own copy for AF_PACKET), which answers none of
these frames -- an inline pair would forward them to netns b, whose replies
would be traffic the kernel run never sees."""
from __future__ import annotations

import struct
import time

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether

from conftest import ROOT
from netns_util import Wire, packet_socket
from dataplane.hooks import Hook, bind
from dataplane.abi.xdp import VERDICT_NAMES
from dataplane.io import netlink
from dataplane.io.kload import KernelObject
from dataplane.live import LiveHook, LiveSpec
from dataplane.runtime.collection import Collection

FW = str(ROOT / "dataplane" / "data" / "xdp_fw.o")
FILLS = [("src_block", struct.pack("<I", 32) + bytes([10, 0, 0, 66]), struct.pack("<I", 1)),
         ("port_block", bytes([6, 0, 0, 23]), b"\x01"),
         ("port_block", bytes([17, 0, 0, 69]), b"\x01")]


def frames(dst: str) -> list[bytes]:
    e = Ether(dst=dst, src="02:00:00:00:00:0a")
    out = []
    for i in range(6):
        out.append(e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000 + i, dport=53) / (b"x" * i))
    out += [e / IP(src="10.0.0.66", dst="10.0.0.2") / UDP(dport=53),           # blocked source
            e / IP(src="10.0.0.66", dst="10.0.0.2") / TCP(dport=80),
            e / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=23, flags="S"),  # telnet: blocked port
            e / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=22, flags="S"),
            e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=69),            # tftp: blocked
            e / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(),
            e / IPv6(src="fd00::1", dst="fd00::2") / UDP(dport=69),            # blocked port over IPv6
            e / IPv6(src="fd00::1", dst="fd00::2") / TCP(dport=443),
            Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:0a") / ARP(pdst="10.0.0.2")]
    raw = [bytes(p) for p in out]
    # a truncated IPv4 header and a truncated UDP header: DROP by the firewall's bounds checks
    raw.append(bytes(e / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(dport=53))[:14 + 12].ljust(26, b"\0"))
    raw.append(bytes(e / IP(src="10.0.0.1", dst="10.0.0.2", ihl=5) / UDP(dport=53))[:14 + 20 + 4])
    return [r.ljust(60, b"\0") if len(r) < 60 and r[12:14] != b"\x08\x00" else r for r in raw]


def _sum_percpu(raw: bytes) -> int:
    return sum(struct.unpack_from("<Q", raw, 8 * i)[0] for i in range(len(raw) // 8))


def _send(w: Wire, fs: list[bytes]) -> None:
    s = packet_socket(w.ns_a, "a0")
    try:
        for f in fs:
            s.send(f)
    finally:
        s.close()


def _wait(cond, timeout=10.0) -> None:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.05)


@pytest.mark.parametrize("io", ["afxdp", "afpacket"])
def test_same_verdicts_and_maps_as_the_kernel(wire, io):
    fs = frames(netlink.interface(wire.vA).mac)
    n = len(fs)
    # -- the dataplane
    coll = Collection.load(FW)
    for m, k, v in FILLS:
        coll.map(m).update(k, v)
    hook = Hook("oracle")
    hook.attach(bind(coll, "xdp_firewall"))
    live = LiveHook(hook, LiveSpec("oracle", [wire.vA], mode="single", io=io)).start()
    try:
        _send(wire, fs)
        _wait(lambda: sum(hook.totals()["packets"].values()) >= n)
        ours = hook.totals()["packets"]
    finally:
        live.stop()
    ours_maps = {
        "verdicts": {k: _sum_percpu(coll.map("verdicts").lookup(struct.pack("<I", k))) for k in range(4)},
        "src_block": sorted((bytes(k).hex(), bytes(v).hex()) for k, v in coll.map("src_block").items()),
        "port_block": sorted((bytes(k).hex(), bytes(v).hex()) for k, v in coll.map("port_block").items()),
    }
    # -- the kernel, same object, same frames, native XDP on vA
    with KernelObject.load(FW) as ko:
        for m, k, v in FILLS:
            ko.update_map(m, k, v)
        fd = ko.progs["xdp_firewall"].fd
        mode = netlink.xdp_attach(wire.vA, fd, "native")
        try:
            _send(wire, fs)
            _wait(lambda: sum(_sum_percpu(ko.lookup("verdicts", struct.pack("<I", k)) or b"") for k in range(4)) >= n)
        finally:
            netlink.xdp_detach(wire.vA, mode, fd)
        theirs_maps = {
            "verdicts": {k: _sum_percpu(ko.lookup("verdicts", struct.pack("<I", k))) for k in range(4)},
            "src_block": sorted((e["key"], e["value"]) for e in ko.dump_map("src_block")),
            "port_block": sorted((e["key"], e["value"]) for e in ko.dump_map("port_block")),
        }
    kernel_verdicts = {VERDICT_NAMES[k]: c for k, c in theirs_maps["verdicts"].items()}
    assert sum(ours.values()) == n == sum(kernel_verdicts.values())
    assert {v: ours[v] for v in kernel_verdicts} == kernel_verdicts
    assert ours["drop"] >= 6 and ours["pass"] >= 6          # the traffic exercises both verdicts
    assert ours_maps == theirs_maps
