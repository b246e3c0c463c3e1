"""Real network namespaces and veth pairs for the live-traffic tests.

Every name carries the test run's pid and a counter (interface names stay
<= 15 characters), every object is removed in ``close()`` (the fixtures
call it in a finally), and traffic only flows inside namespaces made here.

``Wire`` is the inline topology of issue 17::

    netns a: a0 10.0.0.1 (+10.0.0.3) ── veth ── vA | dataplane | vB ── veth ── b0 10.0.0.2 :netns b

vA and vB live in the test's own namespace without addresses (and without
IPv6, so nothing but the test's traffic crosses them).
"""
from __future__ import annotations

import ctypes
import itertools
import json
import os
import socket
import subprocess
import threading

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_seq = itertools.count()


def sh(cmd: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True)


def unique(prefix: str) -> str:
    """prefix + pid + counter, at most 15 characters."""
    tag = f"{os.getpid() % 100000}{next(_seq)}"
    return (prefix + tag)[:15]


def in_netns(ns: str, fn, *args):
    """Run ``fn(*args)`` on a thread that entered netns ``ns`` (sockets made
    there stay in it); returns its result."""
    out: dict = {}

    def run():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, _CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
            finally:
                os.close(fd)
            out["v"] = fn(*args)
        except BaseException as e:   # re-raised in the caller
            out["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def packet_socket(ns: str | None, ifname: str) -> socket.socket:
    """An AF_PACKET socket bound to ``ifname`` (in netns ``ns``) for raw frames."""
    def make():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        s.bind((ifname, 0))
        return s
    return in_netns(ns, make) if ns else make()


def link_stats(ns: str | None, ifname: str) -> dict:
    """{"rx_packets", "tx_packets", "rx_bytes", "tx_bytes", ...} of an interface."""
    pre = f"ip -n {ns}" if ns else "ip"
    data = json.loads(sh(f"{pre} -s -j link show {ifname}").stdout)[0]["stats64"]
    return {f"rx_{k}": v for k, v in data["rx"].items()} | {f"tx_{k}": v for k, v in data["tx"].items()}


def tx_checksum_off(ns: str | None, dev: str) -> None:
    """`ethtool -K dev tx off`: veth leaves TCP/UDP checksums to the receiver
    (CHECKSUM_PARTIAL), which an XDP redirect -- in the kernel or through
    AF_XDP/AF_PACKET here -- cannot carry along, so a forwarded segment would
    arrive with a bad checksum (the usual XDP-on-veth set-up step)."""
    def off():
        from pyroute2.ethtool import Ethtool
        with Ethtool() as et:
            f = et.get_features(dev)
            f.features["tx-checksum-ip-generic"].enable = False
            et.set_features(dev, f)
    in_netns(ns, off) if ns else off()


def no_ipv6(ns: str | None, dev: str) -> None:
    pre = f"ip netns exec {ns} " if ns else ""
    sh(f"{pre}sysctl -qw net.ipv6.conf.{dev}.disable_ipv6=1")


class Pair:
    """A veth pair: ``outer`` in netns ``ns`` (addressed), ``inner`` here."""

    def __init__(self, inner: str, ns: str, outer: str, addrs=(), queues: int = 1):
        self.inner, self.ns, self.outer = inner, ns, outer
        q = f"numrxqueues {queues} numtxqueues {queues}"
        sh(f"ip link add {inner} {q} type veth peer {outer} {q} netns {ns}")
        no_ipv6(None, inner)
        no_ipv6(ns, outer)
        tx_checksum_off(ns, outer)
        for a in addrs:
            sh(f"ip -n {ns} addr add {a} dev {outer}")
        sh(f"ip link set {inner} up")
        sh(f"ip -n {ns} link set {outer} up")

    def close(self) -> None:
        sh(f"ip link del {self.inner}", check=False)


class NsPair(Pair):
    """A Pair whose outer end sits in a namespace of its own, made and
    removed with it."""

    def __init__(self, outer: str = "p0", queues: int = 1):
        ns = unique("lns")
        sh(f"ip netns add {ns}")
        try:
            super().__init__(unique("vp"), ns, outer, queues=queues)
        except BaseException:
            sh(f"ip netns del {ns}", check=False)
            raise

    def close(self) -> None:
        super().close()
        sh(f"ip netns del {self.ns}", check=False)


class Wire:
    """Two namespaces joined through vA/vB, which the dataplane bridges."""

    A_IP, B_IP, A_IP2 = "10.0.0.1", "10.0.0.2", "10.0.0.3"

    def __init__(self, queues: int = 1):
        self.ns_a, self.ns_b = unique("lwa"), unique("lwb")
        self.vA, self.vB = unique("vA"), unique("vB")
        self.pairs: list[Pair] = []
        try:
            for ns in (self.ns_a, self.ns_b):
                sh(f"ip netns add {ns}")
                sh(f"ip -n {ns} link set lo up")
            self.pairs.append(Pair(self.vA, self.ns_a, "a0", [f"{self.A_IP}/24", f"{self.A_IP2}/24"], queues))
            self.pairs.append(Pair(self.vB, self.ns_b, "b0", [f"{self.B_IP}/24"], queues))
        except BaseException:
            self.close()
            raise

    def ping(self, src_ns: str, dst: str, count: int = 3, src: str | None = None, interval: float = 0.2,
             wait: float = 1.0) -> subprocess.CompletedProcess:
        i = f"-I {src} " if src else ""
        return sh(f"ip netns exec {src_ns} ping -n -q -c {count} -i {interval} -W {wait} {i}{dst}", check=False)

    def close(self) -> None:
        for p in self.pairs:
            p.close()
        for ns in (self.ns_a, self.ns_b):
            sh(f"ip netns del {ns}", check=False)


def xdp_progs_on(ifnames) -> dict[str, str]:
    """{ifname: 'xdp...' line} for every interface of the list that has an
    XDP program, as `ip -d link` prints it."""
    out = {}
    for name in ifnames:
        r = sh(f"ip -d link show {name}", check=False)
        if r.returncode == 0 and "prog/xdp" in r.stdout:
            out[name] = r.stdout
    return out


def tcp_exchange(server_ns: str, server_ip: str, client_ns: str, nbytes: int = 4 << 20, port: int = 5201,
                 timeout: float = 20.0) -> tuple[str, str]:
    """Send ``nbytes`` from a client in ``client_ns`` to a server in
    ``server_ns``, which answers with the SHA-256 of what it read; returns
    (digest sent, digest the server saw)."""
    import hashlib
    import random

    srv = in_netns(server_ns, _listen, server_ip, port)
    got: dict = {}

    def serve():
        try:
            srv.settimeout(timeout)
            conn, _ = srv.accept()
            conn.settimeout(timeout)
            h = hashlib.sha256()
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
            conn.sendall(h.hexdigest().encode())
            conn.close()
            got["digest"] = h.hexdigest()
        except BaseException as e:
            got["error"] = e
        finally:
            srv.close()

    t = threading.Thread(target=serve)
    t.start()
    data = random.Random(nbytes).randbytes(nbytes)
    cli = in_netns(client_ns, socket.socket, socket.AF_INET, socket.SOCK_STREAM)
    try:
        cli.settimeout(timeout)
        cli.connect((server_ip, port))
        cli.sendall(data)
        cli.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = cli.recv(128)
            if not chunk:
                break
            answer += chunk
    finally:
        cli.close()
        t.join(timeout)
    if "error" in got:
        raise got["error"]
    return hashlib.sha256(data).hexdigest(), answer.decode()


def _listen(ip: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(1)
    return s
