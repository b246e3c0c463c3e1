"""Socket lookups from XDP against the kernel, with real sockets.

A network namespace holds TCP listeners (wildcard and exact addresses,
dual-stack and v6only, bound to a device), established connections, a
time-wait socket, UDP sockets (wildcard, exact, connected). The kernel runs
tests/progs/xdp_sk.c with BPF_PROG_TEST_RUN inside the namespace; the
dataplane learns the same namespace (rtnetlink and sock_diag, pyroute2) and
runs the same object on both engines. Whether a socket is found and every
struct bpf_sock field the program reads must be the same; so must the miss
path: odd tuple lengths, flags, peer netns ids, and a fresh namespace with
no sockets at all (the dataplane's default model).
"""
from __future__ import annotations

import os
import socket
import struct
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from support import diff as D
from conftest import require
from netns_cases import NetNS, dataplane_cases, kernel_cases_in
from netns_util import in_netns

ENGINES = ["interp", "jit"]
SO_BINDTODEVICE = 25


def _listen(fam, addr, port, v6only=None, dev=None, proto=socket.SOCK_STREAM, reuseport=False):
    s = socket.socket(fam, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:       # lets 127.0.0.1:P and 0.0.0.0:P listen side by side (each its own group)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    if dev:
        s.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, dev.encode())
    s.bind((addr, port))
    if proto == socket.SOCK_STREAM:
        s.listen(16)
    return s


def _make_sockets():
    socks = {
        "l8080": _listen(socket.AF_INET, "0.0.0.0", 8080),
        "l8081x": _listen(socket.AF_INET, "127.0.0.1", 8081, reuseport=True),
        "l8081w": _listen(socket.AF_INET, "0.0.0.0", 8081, reuseport=True),
        "l8082": _listen(socket.AF_INET6, "::", 8082, v6only=False),
        "l8083": _listen(socket.AF_INET6, "::", 8083, v6only=True),
        "l8084": _listen(socket.AF_INET, "0.0.0.0", 8084, dev="skx"),
        "l8085": _listen(socket.AF_INET, "0.0.0.0", 8085, dev="lo"),
        "u5353": _listen(socket.AF_INET, "0.0.0.0", 5353, proto=socket.SOCK_DGRAM),
        "u5354x": _listen(socket.AF_INET, "127.0.0.1", 5354, proto=socket.SOCK_DGRAM),
        "u5354w": _listen(socket.AF_INET, "0.0.0.0", 5354, proto=socket.SOCK_DGRAM),
        "u5355": _listen(socket.AF_INET, "127.0.0.1", 5355, proto=socket.SOCK_DGRAM),
        "u5356": _listen(socket.AF_INET6, "::", 5356, v6only=False, proto=socket.SOCK_DGRAM),
    }
    socks["u5355"].connect(("127.0.0.1", 9999))
    # an established connection, both ends
    c1 = socket.create_connection(("127.0.0.1", 8080))
    a1, _ = socks["l8080"].accept()
    # a time-wait socket: the client closes first
    c2 = socket.create_connection(("127.0.0.1", 8080))
    a2, _ = socks["l8080"].accept()
    c2_port = c2.getsockname()[1]
    c2.close()
    time.sleep(0.05)
    a2.close()
    time.sleep(0.2)
    socks.update(c1=c1, a1=a1, a2=a2)
    return socks, c1.getsockname()[1], c2_port


@pytest.fixture(scope="module")
def sk_ns():
    require(os.geteuid() == 0, "root (netns, bpf())")
    with NetNS("dpsk") as ns:
        ns.ip("link add skx type veth peer name sky", "link set skx up", "link set sky up")
        socks, c1_port, c2_port = in_netns(ns.name, _make_sockets)
        try:
            ns.c1_port, ns.c2_port = c1_port, c2_port
            yield ns
        finally:
            for s in socks.values():
                s.close()


def _tcp(src, sport, dst, dport, v6=False):
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    return bytes(Ether() / ip / TCP(sport=sport, dport=dport, flags="S"))


def _udp(src, sport, dst, dport, v6=False):
    ip = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
    return bytes(Ether() / ip / UDP(sport=sport, dport=dport))


def _packets(ns) -> list[bytes]:
    lo, lo6 = "127.0.0.1", "::1"
    return [
        _tcp(lo, 40000, lo, 8080), _tcp("10.0.0.9", 40000, "10.0.0.5", 8080),    # wildcard listener
        _tcp(lo, 40000, lo, 8081), _tcp(lo, 40000, "127.0.0.2", 8081),            # exact beats wildcard
        _tcp(lo, 40000, lo, 8082), _tcp(lo6, 40000, lo6, 8082, v6=True),          # dual-stack
        _tcp(lo, 40000, lo, 8083), _tcp(lo6, 40000, lo6, 8083, v6=True),          # v6only
        _tcp(lo, 40000, lo, 8084), _tcp(lo, 40000, lo, 8085), _tcp(lo, 40000, lo, 9),   # bound devices, none
        _tcp(lo, ns.c1_port, lo, 8080), _tcp(lo, 8080, lo, ns.c1_port),           # established, both ends
        _tcp(lo, 8080, lo, ns.c2_port),                                           # time-wait
        _udp(lo, 1000, lo, 5353), _udp(lo, 1000, lo, 5354), _udp("10.0.0.1", 1000, "10.0.0.7", 5354),
        _udp(lo, 9999, lo, 5355), _udp(lo, 1234, lo, 5355), _udp(lo6, 1000, lo6, 5356, v6=True),
        _udp(lo, 1000, lo, 5356), _udp(lo, 1000, lo, 7),
    ]


def _cfg(helper=3, length=0, netns=None, flags=0) -> tuple:
    return ("sk_cfg", bytes(4), struct.pack("<IIIIQ", helper, length, netns or 0, netns is not None, flags))


def _cases(ns):
    pk = _packets(ns)
    return [("by_proto", "xdp_sk", [_cfg()], pk),
            ("tcp_for_all", "xdp_sk", [_cfg(helper=0)], pk),
            ("udp_for_all", "xdp_sk", [_cfg(helper=1)], pk),
            ("skc", "xdp_skc", [_cfg(helper=2)], pk),
            ("len11", "xdp_sk", [_cfg(length=11)], pk[:1] + pk[14:15]),
            ("len36_v4", "xdp_sk", [_cfg(length=36)], pk[:1]),
            ("flags", "xdp_sk", [_cfg(flags=1)], pk[:1] + pk[14:15]),
            ("peer_netns0", "xdp_sk", [_cfg(netns=0)], pk[:1]),
            ("netns_minus2", "xdp_sk", [_cfg(netns=0xFFFFFFFE)], pk[:1] + pk[14:15])]


@pytest.fixture(scope="module")
def sk_kernel(sk_ns, objs):
    cases = _cases(sk_ns)
    out = {}
    for prog in ("xdp_sk", "xdp_skc"):
        sel = [c for c in cases if c[1] == prog]
        out.update(zip([c[0] for c in sel],
                       kernel_cases_in(sk_ns.name, objs["xdp_sk"], prog, [(c[2], c[3]) for c in sel])))
    return cases, out


@pytest.mark.parametrize("engine", ENGINES)
def test_socket_lookups_same_as_kernel(sk_ns, objs, sk_kernel, engine):
    from dataplane.net.core import Net
    cases, kernel = sk_kernel
    net = Net.learn(sk_ns.name)
    failures = []
    for prog in ("xdp_sk", "xdp_skc"):
        sel = [c for c in cases if c[1] == prog]
        dp = dataplane_cases(objs["xdp_sk"], prog, [(c[2], c[3]) for c in sel], engine=engine, net=net)
        for (tag, _, _, packets), d in zip(sel, dp):
            diffs = D.compare(D.DiffCase("xdp_sk", prog, packets, tag=tag), kernel[tag], d)
            if diffs:
                failures.append(f"{tag} [{engine}]:\n  " + "\n  ".join(diffs))
    assert not failures, "\n".join(failures)


def test_lookups_find_what_they_should(sk_kernel):
    """The kernel's answers show the scenarios are real: listeners and
    established sockets found, misses where the binding excludes them."""
    cases, kernel = sk_kernel
    found = [int(r["retval"] == 3) for r in kernel["by_proto"]["runs"]]      # XDP_TX when found
    #          8080 wild 8081 .2 8082 v6  8083 v6  8084 8085 9  est est tw  u53 u54 u54w 55 55x u56 u56v4 u7
    assert found == [1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 0], found
    skc = [int(r["retval"] == 3) for r in kernel["skc"]["runs"]]
    assert skc[13] == 1                     # the time-wait socket is a sock_common
    for tag in ("len11", "len36_v4", "flags", "peer_netns0"):
        assert all(r["retval"] == 2 for r in kernel[tag]["runs"]), tag
    assert kernel["netns_minus2"]["runs"][0]["retval"] == 3       # any negative id is the current netns


def test_miss_in_a_fresh_namespace(objs, root_required):
    """No sockets: every lookup misses in the kernel (fresh netns) and in
    the dataplane's default model (no --netns)."""
    with NetNS("dpsf") as ns:
        pk = [_tcp("127.0.0.1", 1, "127.0.0.1", 80), _udp("127.0.0.1", 1, "127.0.0.1", 53),
              _tcp("::1", 1, "::1", 80, v6=True)]
        cases = [([_cfg()], pk)]
        kernel = kernel_cases_in(ns.name, objs["xdp_sk"], "xdp_sk", cases)
    dp = dataplane_cases(objs["xdp_sk"], "xdp_sk", cases, engine="jit")
    assert [r["retval"] for r in kernel[0]["runs"]] == [2, 2, 2]
    assert not D.compare(D.DiffCase("xdp_sk", "xdp_sk", pk), kernel[0], dp[0])
