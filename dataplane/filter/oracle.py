"""Kernel netfilter as the oracle: a private router namespace between two
peers, the same ruleset loaded with ``iptables-restore`` (and ``ipset
restore``), packets injected from a peer, counters read back with
``iptables-save -c``.

Topology (names unique per instance; everything is removed by close())::

    ns A: a1 ──veth── ra  [ns R, ip_forward=1]  rb ──veth── b1 :ns B
          198.18.0.0/15 routes via ra;     everything else via rb (default)

A frame sent on a1 addressed to ra's MAC is routed by R through FORWARD
out of rb (or, with ``local_all``, delivered to R itself through INPUT);
frames sent on b1 come back the other way.  Each packet's verdict is read
from the per-rule counters (which rule counted it last) and from whether
it came out on the other side.
"""
from __future__ import annotations

import os
import select
import socket
import subprocess
import time

from dataplane.filter.errors import RulesetError

A_NET = "198.18.0.0/15"
R_A, A_GW = "192.0.2.1", "192.0.2.2"
R_B, B_GW = "198.51.100.1", "198.51.100.2"
ETH_P_ALL = 0x0003


def _run(*cmd, ns: str | None = None, input: str | None = None, check: bool = True) -> str:
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    p = subprocess.run(full, input=input, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise RulesetError(f"{' '.join(cmd[:2])} failed (rc {p.returncode}): {p.stderr.strip()[-2000:]}")
    return p.stdout


class NetfilterRouter:
    """One oracle instance.  ``tag`` must be unique among concurrent users."""

    def __init__(self, tag: str | None = None, *, local_all: bool = False):
        tag = tag or f"{os.getpid() % 100000}"
        self.ns = {k: f"bpfo{k}{tag}" for k in "rab"}
        self.ifs = {"a1": f"a1{tag}", "ra": f"ra{tag}", "rb": f"rb{tag}", "b1": f"b1{tag}"}
        self.socks: dict[str, socket.socket] = {}
        self.mac: dict[str, bytes] = {}
        self.ifindex: dict[str, int] = {}
        try:
            self._setup(local_all)
        except BaseException:
            self.close()
            raise

    # -- set-up / tear-down --------------------------------------------------
    def _setup(self, local_all: bool) -> None:
        r, a, b = self.ns["r"], self.ns["a"], self.ns["b"]
        for n in (r, a, b):
            _run("ip", "netns", "add", n)
        i = self.ifs
        _run("ip", "link", "add", i["ra"], "netns", r, "type", "veth", "peer", "name", i["a1"], "netns", a)
        _run("ip", "link", "add", i["rb"], "netns", r, "type", "veth", "peer", "name", i["b1"], "netns", b)
        for ns, dev in ((r, i["ra"]), (r, i["rb"]), (a, i["a1"]), (b, i["b1"]), (r, "lo")):
            _run("ip", "link", "set", dev, "up", ns=ns)
        for ns, dev in ((a, i["a1"]), (b, i["b1"])):
            # the peers only inject and capture: no IPv6 chatter, no replies of their own
            _run("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=ns)
        for dev in (i["ra"], i["rb"]):
            _run("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=r)
        _run("ip", "addr", "add", f"{R_A}/30", "dev", i["ra"], ns=r)
        _run("ip", "addr", "add", f"{R_B}/30", "dev", i["rb"], ns=r)
        for k in ("ipv4.ip_forward=1", "ipv4.conf.all.rp_filter=0", "ipv4.conf.default.rp_filter=0",
                  f"ipv4.conf.{i['ra']}.rp_filter=0", f"ipv4.conf.{i['rb']}.rp_filter=0",
                  "ipv4.conf.all.send_redirects=0", f"ipv4.conf.{i['ra']}.send_redirects=0",
                  f"ipv4.conf.{i['rb']}.send_redirects=0", "ipv4.conf.all.accept_local=1"):
            _run("sysctl", "-qw", f"net.{k}", ns=r)
        for ns, dev in ((a, "a1"), (b, "b1"), (r, "ra"), (r, "rb")):
            out = _run("cat", f"/sys/class/net/{i[dev]}/address", ns=ns).strip()
            self.mac[dev] = bytes.fromhex(out.replace(":", ""))
            self.ifindex[dev] = int(_run("cat", f"/sys/class/net/{i[dev]}/ifindex", ns=ns))
        _run("ip", "neigh", "replace", A_GW, "lladdr", self.mac["a1"].hex(":"), "dev", i["ra"],
             "nud", "permanent", ns=r)
        _run("ip", "neigh", "replace", B_GW, "lladdr", self.mac["b1"].hex(":"), "dev", i["rb"],
             "nud", "permanent", ns=r)
        _run("ip", "route", "add", A_NET, "via", A_GW, "dev", i["ra"], ns=r)
        _run("ip", "route", "add", "default", "via", B_GW, "dev", i["rb"], ns=r)
        if local_all:
            _run("ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "local", ns=r)
        for side, ns in (("a1", a), ("b1", b)):
            self.socks[side] = self._socket(ns, i[side])

    @staticmethod
    def _socket(ns: str, dev: str) -> socket.socket:
        from pyroute2 import netns as pnetns
        pnetns.pushns(ns)
        try:
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.bind((dev, 0))
            s.setblocking(False)
            return s
        finally:
            pnetns.popns()

    def close(self) -> None:
        for s in self.socks.values():
            s.close()
        self.socks = {}
        for n in self.ns.values():
            subprocess.run(["ip", "netns", "del", n], capture_output=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- rules ---------------------------------------------------------------
    def restore(self, rules: str, sets: str = "", *, counters: bool = True) -> None:
        if sets.strip():
            _run("ipset", "restore", ns=self.ns["r"], input=sets)
        _run("iptables-restore", *(["-c"] if counters else []), ns=self.ns["r"], input=rules)

    def save(self) -> str:
        return _run("iptables-save", "-c", "-t", "filter", ns=self.ns["r"])

    def listing(self, chain: str | None = None) -> str:
        return _run("iptables", "-L", *([chain] if chain else []), "-v", "-n", "-x", ns=self.ns["r"])

    def counters(self) -> list[tuple[int, int]]:
        """Per-rule counters in save order, then the built-in policies."""
        return counters_of(self.save())

    # -- traffic -------------------------------------------------------------
    def drain(self) -> None:
        for s in self.socks.values():
            while True:
                try:
                    s.recv(65535)
                except BlockingIOError:
                    break

    def send(self, side: str, frame: bytes) -> None:
        self.socks[side].send(frame)

    def received(self, side: str, wait: float = 0.05) -> list[bytes]:
        """Frames that came out on ``side`` ("a1" or "b1"): waits up to ``wait``
        s for the first, then takes what else is queued."""
        s = self.socks[side]
        out = []
        deadline = time.monotonic() + wait
        while True:
            left = 0.0 if out else deadline - time.monotonic()
            r, _, _ = select.select([s], [], [], max(left, 0.0))
            if not r:
                break
            try:
                data, addr = s.recvfrom(65535)
            except BlockingIOError:
                continue
            if addr[2] != socket.PACKET_OUTGOING:
                out.append(data)
        return out


def counters_of(save_text: str) -> list[tuple[int, int]]:
    """Counters of an ``iptables-save -c`` text, in the translator's index order."""
    from dataplane.filter.ipset import parse_sets
    from dataplane.filter.parser import parse
    names = set()
    for line in save_text.splitlines():
        w = line.split()
        if "--match-set" in w:
            names.add(w[w.index("--match-set") + 1])
    # sets are only named by the rules here: empty stand-ins let the text parse
    sets = parse_sets("\n".join(f"create {n} hash:ip" for n in sorted(names)))
    rs = parse(save_text, sets=sets, source="iptables-save")
    return [tuple(r.counters) for r in rs.all_rules()] + [tuple(c.counters) for c in rs.builtins()]
