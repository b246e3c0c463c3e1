"""bpf_tcp_gen_syncookie / bpf_tcp_check_syncookie (the helpers that take a
listener) from XDP against the kernel, with real listeners: tests/progs/
xdp_synsk.c finds the socket by bpf_skc_lookup_tcp, makes a cookie for a SYN
and checks the ACK a client would send back (and a wrong one); other
segments are checked as they are. The namespace's net.ipv4.tcp_syncookies
is 0, 1 and 2 in turn; the kernel runs in the namespace, the dataplane
learns it (sysctl included). Every helper answer by value, the MSS a cookie
encodes, retval and output bytes must match on both engines (the cookies
themselves are each side's secret). Argument rules: tests/verifier_reject/
syncookie_sk_null.c.
"""
from __future__ import annotations

import os
import socket
import struct

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from support import diff as D
from conftest import require
from netns_cases import NetNS, dataplane_cases, kernel_cases_in
from netns_util import in_netns

ENGINES = ["interp", "jit"]
PAYLOAD = Raw(bytes(100))     # the program copies 64 bytes past the IP header


def _listen(fam, port, v6only=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.bind(("0.0.0.0" if fam == socket.AF_INET else "::", port))
    s.listen(64)
    return s


def _make():
    socks = [_listen(socket.AF_INET, 7001), _listen(socket.AF_INET6, 7002, v6only=False),
             _listen(socket.AF_INET6, 7003, v6only=True)]
    c = socket.create_connection(("127.0.0.1", 7001))
    a, _ = socks[0].accept()
    return socks + [c, a], c.getsockname()[1]


@pytest.fixture(scope="module")
def syn_ns():
    require(os.geteuid() == 0, "root (netns, bpf())")
    with NetNS("dpsyn") as ns:
        socks, ns.cport = in_netns(ns.name, _make)
        try:
            yield ns
        finally:
            for s in socks:
                s.close()


def _v4(sport, dport, flags="S", options=(), ver=4, seq=1000, ack=0):
    return bytes(Ether() / IP(src="127.0.0.1", dst="127.0.0.1", version=ver) /
                 TCP(sport=sport, dport=dport, flags=flags, options=list(options), seq=seq, ack=ack) / PAYLOAD)


def _v6(sport, dport, flags="S", options=()):
    return bytes(Ether() / IPv6(src="::1", dst="::1") /
                 TCP(sport=sport, dport=dport, flags=flags, options=list(options), seq=77) / PAYLOAD)


def _packets(ns) -> list[bytes]:
    return [
        _v4(40001, 7001, options=[("MSS", 1460)]), _v4(40002, 7001), _v4(40003, 7001, options=[("MSS", 1000)]),
        _v4(40004, 7001, options=[("NOP", None), ("MSS", 1300), ("WScale", 7), ("SAckOK", b"")]),
        _v4(40005, 7002, options=[("MSS", 1440)]),                                  # v4 to a dual-stack listener
        _v6(40006, 7002, options=[("MSS", 1440)]), _v6(40007, 7003), _v6(40008, 7003, options=[("MSS", 9000)]),
        _v4(40009, 7001, flags="SA"), _v4(40010, 7001, flags="F"), _v4(40011, 7001, flags="A", ack=12345),
        _v4(40012, 7001, flags="RA"), _v4(ns.cport, 7001),                           # a SYN to an established one
        _v4(40013, 7001, ver=5),                                                     # no IP version 4 or 6
    ]


def _cfg(th_len_delta=0, iph_len=0):
    return [("syn_cfg", bytes(4), struct.pack("<II", th_len_delta & 0xFFFFFFFF, iph_len))]


CFGS = [("plain", _cfg()), ("th_len_off", _cfg(th_len_delta=4)), ("iph19", _cfg(iph_len=19)),
        ("iph20", _cfg(iph_len=20))]


@pytest.fixture(scope="module")
def syn_runs(syn_ns, objs):
    """Per sysctl value: the kernel's runs and the namespace as learnt then."""
    from dataplane.net.core import Net
    pk = _packets(syn_ns)
    out = {}
    for sysctl in (0, 1, 2):
        syn_ns.sysctl(f"net.ipv4.tcp_syncookies={sysctl}")
        kernel = kernel_cases_in(syn_ns.name, objs["xdp_synsk"], "xdp_synsk", [(c, pk) for _, c in CFGS])
        out[sysctl] = (kernel, Net.learn(syn_ns.name))
    return pk, out


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sysctl", [0, 1, 2])
def test_same_as_kernel(syn_runs, objs, engine, sysctl):
    pk, out = syn_runs
    kernel, net = out[sysctl]
    assert net.state.tcp_syncookies == sysctl
    dp = dataplane_cases(objs["xdp_synsk"], "xdp_synsk", [(c, pk) for _, c in CFGS], engine=engine, net=net)
    failures = []
    for (tag, _), k, d in zip(CFGS, kernel, dp):
        diffs = D.compare(D.DiffCase("xdp_synsk", "xdp_synsk", pk, tag=tag), k, d)
        if diffs:
            failures.append(f"sysctl {sysctl} {tag} [{engine}]:\n  " + "\n  ".join(diffs))
    assert not failures, "\n".join(failures)


def _slots(run) -> list[int]:
    return [int.from_bytes(bytes.fromhex(e["value"]), "little") for e in run["maps"]["syn_res"]]


def test_the_paths_are_real(syn_runs):
    """The kernel's answers: cookies only when always on (2), their ACK
    checks out and a wrong one does not; with 1 and a queue that is not
    full no cookie (-ENOENT); with 0 -ENOENT and -EINVAL."""
    _, out = syn_runs
    on = _slots(out[2][0][0])
    assert on[0] == 8 and on[20] == 8 and on[41] == 8, on          # 8 SYNs to listeners: cookie, ACK ok, a stale one not
    assert on[25] + on[26] == 8 and on[26], on                      # the next cookie: some decode, some not
    assert on[2] == 1 and on[3] == 1                                # the established socket; IP version 5
    # the MSS each cookie encodes: msstab4 (536 1300 1440 1460), msstab6 (1220 1420 1440 8940)
    assert on[11] == 1460 + 536 + 536 + 1300 + 1440 + 1440 + 1220 + 8940, on
    half = _slots(out[1][0][0])
    assert half[1] == 8 and half[0] == 0, half
    off = _slots(out[0][0][0])
    assert off[1] == 9 and off[32] == 4, off                        # gen -ENOENT, check -EINVAL
