"""Helpers of the differential tests: packet factories (scapy), the two sides
(kernel via dataplane.io.kload, dataplane via its CLI) and a comparator that
names every difference (packet index, retval / data_out / map and key).
"""
from __future__ import annotations

import json
import random
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP, fragment
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Raw


ROOT = Path(__file__).resolve().parent.parent


MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
# The kernel's BPF_PROG_TEST_RUN refuses frames shorter than an Ethernet header.
MIN_FRAME = 14


# ---------------------------------------------------------------- packets

def _pad(pkt, size: int | None, rnd: random.Random) -> bytes:
    raw = bytes(pkt)
    if size is not None and size > len(raw):
        # extend the payload (lengths and checksums stay consistent)
        pkt = pkt / Raw(bytes(rnd.randrange(256) for _ in range(size - len(raw))))
        raw = bytes(pkt)
    return raw


def ipv4(proto: str, src: str, dst: str, sport: int = 1234, dport: int = 80, size: int | None = None,
         rnd: random.Random | None = None, **ip_kw) -> bytes:
    rnd = rnd or random.Random(0)
    l4 = {"tcp": lambda: TCP(sport=sport, dport=dport, flags="S", seq=rnd.randrange(1 << 32)),
          "udp": lambda: UDP(sport=sport, dport=dport),
          "icmp": lambda: ICMP(id=sport, seq=dport)}[proto]()
    return _pad(Ether(src=MAC_A, dst=MAC_B) / IP(src=src, dst=dst, ttl=rnd.randrange(1, 255), **ip_kw) / l4,
                size, rnd)


def ipv6(proto: str, src: str, dst: str, sport: int = 1234, dport: int = 80, size: int | None = None,
         rnd: random.Random | None = None) -> bytes:
    rnd = rnd or random.Random(0)
    l4 = {"tcp": lambda: TCP(sport=sport, dport=dport, flags="A"),
          "udp": lambda: UDP(sport=sport, dport=dport),
          "icmp": lambda: ICMPv6EchoRequest(id=sport, seq=dport)}[proto]()
    return _pad(Ether(src=MAC_A, dst=MAC_B) / IPv6(src=src, dst=dst) / l4, size, rnd)


SRC4 = ["10.0.0.1", "10.1.2.3", "10.1.255.254", "192.168.1.5", "192.168.1.6", "172.16.0.1", "8.8.8.8"]
DST4 = ["10.0.0.2", "198.51.100.7", "203.0.113.9"]
SRC6 = ["2001:db8::1", "fe80::1", "2001:db8:1::42"]
PORTS = [22, 53, 80, 123, 443, 4789, 8080, 65535, 1]
SIZES = [60, 64, 128, 333, 512, 1000, 1500]


def packet_corpus(seed: int = 1, count: int = 120) -> list[bytes]:
    """A varied, deterministic packet sequence: every protocol the corpus
    parses, addresses/ports that hit and miss the rules, odd and short frames."""
    rnd = random.Random(seed)
    pkts: list[bytes] = []
    # the structured part: every family x protocol with a few ports and sizes
    for proto in ("tcp", "udp", "icmp"):
        for i, dport in enumerate(PORTS):
            src, dst = SRC4[i % len(SRC4)], DST4[i % len(DST4)]
            pkts.append(ipv4(proto, src, dst, 1024 + i, dport, SIZES[i % len(SIZES)], rnd))
        for i, dport in enumerate(PORTS[:4]):
            pkts.append(ipv6(proto, SRC6[i % 3], "2001:db8::2", 2000 + i, dport, SIZES[(i + 3) % len(SIZES)], rnd))
    pkts += odd_frames(rnd)
    # the random part
    while len(pkts) < count:
        fam = rnd.choice(("v4", "v4", "v6", "arp", "vlan"))
        size = rnd.randrange(60, 1501)
        proto = rnd.choice(("tcp", "udp", "icmp"))
        if fam == "v4":
            pkts.append(ipv4(proto, rnd.choice(SRC4), rnd.choice(DST4), rnd.randrange(1, 65536),
                             rnd.choice(PORTS), size, rnd))
        elif fam == "v6":
            pkts.append(ipv6(proto, rnd.choice(SRC6), "2001:db8::2", rnd.randrange(1, 65536),
                             rnd.choice(PORTS), size, rnd))
        elif fam == "arp":
            pkts.append(arp(rnd.choice(SRC4), rnd.choice(DST4), op=rnd.choice((1, 2))))
        else:
            pkts.append(_pad(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=rnd.randrange(1, 4095)) /
                             IP(src=rnd.choice(SRC4), dst=rnd.choice(DST4)) / UDP(dport=rnd.choice(PORTS)),
                             size, rnd))
    return pkts


def arp(psrc: str, pdst: str, op: int = 1) -> bytes:
    return bytes(Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=op, hwsrc=MAC_A, psrc=psrc, pdst=pdst))


def odd_frames(rnd: random.Random) -> list[bytes]:
    """Frames that exercise the programs' bounds checks and unusual headers."""
    eth = Ether(src=MAC_A, dst=MAC_B)
    full_tcp = bytes(eth / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=22))
    full_v6 = bytes(eth / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(dport=53))
    frags = fragment(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5, dport=53) / Raw(bytes(1200)), fragsize=512)
    out = [
        bytes(eth)[:14] if len(bytes(eth)) >= 14 else bytes(14),      # Ethernet header only (type 0x9000)
        bytes(eth / IP())[:MIN_FRAME + 1],                            # 1 byte of IPv4
        full_tcp[:14 + 19],                                            # IPv4 header one byte short
        full_tcp[:14 + 20],                                            # IPv4 header, no TCP
        full_tcp[:14 + 20 + 19],                                       # TCP header one byte short
        full_v6[:14 + 39],                                             # IPv6 header one byte short
        full_v6[:14 + 40 + 7],                                         # UDP header one byte short
        bytes(eth / IP(src="10.1.2.3", dst="10.0.0.2", ihl=4) / TCP(dport=80)),   # bad ihl < 5
        bytes(eth / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x00") / TCP(dport=22)),  # ihl 6
        bytes(eth / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01" * 40) / UDP(dport=53)),  # ihl 15
        bytes(eth / IP(src="10.0.0.1", dst="10.0.0.2", proto=47) / Raw(b"\x00" * 30)),       # GRE: not parsed
        bytes(Ether(src=MAC_A, dst=MAC_B, type=0x88CC) / Raw(bytes(46))),                   # LLDP
        bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=10) / IP(src="10.1.2.3") / TCP(dport=22)),
        bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=10) / Dot1Q(vlan=20) / IPv6() / UDP(dport=53)),
        bytes(eth / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment() / UDP(dport=53)),
        arp("10.0.0.1", "10.0.0.2"),
        arp("10.0.0.2", "10.0.0.1", op=2),
        bytes(Ether(src=MAC_A, dst=MAC_B, type=0x0800) / Raw(bytes(46))),                   # IPv4 type, zeros
        bytes(rnd.randrange(256) for _ in range(60)),                                       # garbage
        bytes(1500),
    ]
    out += [bytes(eth / f) for f in frags]
    return out


def skb_runnable(pkt: bytes) -> bool:
    """Frames BPF_PROG_TEST_RUN accepts for skb programs: the kernel refuses
    (EINVAL) an IPv4/IPv6 ethertype whose network header is incomplete."""
    etype = pkt[12:14]
    if etype == b"\x08\x00":
        return len(pkt) >= 14 + 20
    if etype == b"\x86\xdd":
        return len(pkt) >= 14 + 40
    return len(pkt) >= MIN_FRAME


def ip4(a: str) -> bytes:
    return socket.inet_aton(a)


# ---------------------------------------------------------------- the two sides

def dataplane_prog_run(obj: Path, prog: str, packets: list[bytes], tmpdir: Path, *, engine: str = "interp",
                       map_updates=(), repeat: int = 1, dump_maps: bool = True, extra_args=()) -> dict:
    """`python -m dataplane -j prog run ...`: packets go through files."""
    args = [sys.executable, "-m", "dataplane", "-j", "prog", "run", str(obj), "--prog", prog,
            "--repeat", str(repeat), "--engine", engine, *extra_args]
    for i, data in enumerate(packets):
        f = tmpdir / f"pkt{i:04d}.bin"
        f.write_bytes(data)
        args += ["--data-in", str(f)]
    for name, key, value in map_updates:
        args += ["--map-update", name, _hex(key), _hex(value)]
    if dump_maps:
        args.append("--dump-maps")
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError(f"dataplane prog run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def _hex(v) -> str:
    return v if isinstance(v, str) else bytes(v).hex()


@dataclass
class DiffCase:
    """One program, its configuration and its packet sequence."""
    obj: str                      # tests/progs stem
    prog: str
    packets: list[bytes]
    map_updates: list = field(default_factory=list)
    exclude_maps: dict[str, str] = field(default_factory=dict)   # map -> why its contents are not compared
    keys_only: set[str] = field(default_factory=set)             # maps holding kernel object ids
    repeat: int = 1
    tag: str = ""                 # distinguishes cases of the same program

    @property
    def id(self) -> str:
        return f"{self.obj}:{self.prog}" + (f":x{self.repeat}" if self.repeat != 1 else "") + \
            (f":{self.tag}" if self.tag else "")


class KernelRuns:
    """Each case's kernel answer, asked once per session (kernel_prog_run
    with ``kw``), or a kernel_build.Refused when this kernel build refuses
    the program."""

    def __init__(self, **kw):
        self.kw, self.runs = kw, {}

    def __call__(self, case: DiffCase, objs: dict):
        from dataplane.io.kload import kernel_prog_run
        from support.kernel_build import kernel_or_refused
        if case.id not in self.runs:
            self.runs[case.id] = kernel_or_refused(kernel_prog_run, objs[case.obj], case.prog, case.packets,
                                                   case.map_updates, **self.kw)
        return self.runs[case.id]


def assert_same_as_kernel(case: DiffCase, engine: str, objs: dict, tmpdir: Path, kernel, fix=None) -> None:
    """`dataplane prog run` of ``case`` on ``engine`` gives the kernel's answer
    (``fix(side)`` first normalises both, e.g. drops kernel object ids); when
    the kernel build refused the program, dataplane must refuse it alike."""
    from support.kernel_build import Refused, assert_dataplane_refuses
    if isinstance(kernel, Refused):
        assert_dataplane_refuses(objs[case.obj], case.prog, kernel)
        return
    dp = dataplane_prog_run(objs[case.obj], case.prog, case.packets, tmpdir, engine=engine,
                            map_updates=case.map_updates)
    if fix is not None:
        fix(kernel)
        fix(dp)
    diffs = compare(case, kernel, dp)
    assert not diffs, f"{case.id} [{engine}] differs from the kernel:\n" + "\n".join(diffs)


def compare(case: DiffCase, kernel: dict, dp: dict, limit: int = 40) -> list[str]:
    """Every difference between the kernel's and dataplane's answers, as text."""
    diffs: list[str] = []
    kr, dr = kernel["runs"], dp.get("runs", [])
    if len(kr) != len(dr):
        diffs.append(f"run count: kernel {len(kr)} dataplane {len(dr)}")
    for i, (k, d) in enumerate(zip(kr, dr)):
        pkt = case.packets[i]
        if "error" in k or "error" in d:     # the run was refused (e.g. ENOMEM for a packet too big)
            if k.get("error") != d.get("error"):
                diffs.append(f"packet {i} ({len(pkt)}B): kernel {k.get('error', 'ran')} dataplane "
                             f"{d.get('error', 'ran')}")
            continue
        if k["retval"] != d.get("retval"):
            diffs.append(f"packet {i} ({len(pkt)}B {pkt[:40].hex()}...): retval kernel {k['retval']} "
                         f"dataplane {d.get('retval')}")
        if k["data_out"] != d.get("data_out"):
            diffs.append(f"packet {i}: data_out differs: {_first_diff(k['data_out'], d.get('data_out') or '')}")
    kmaps, dmaps = kernel.get("maps", {}), dp.get("maps", {})
    for name in sorted(set(kmaps) | set(dmaps)):
        if name in case.exclude_maps:
            continue
        if name not in dmaps or name not in kmaps:
            diffs.append(f"map {name}: only in {'kernel' if name in kmaps else 'dataplane'} dump")
            continue
        ke = {e["key"]: e["value"] for e in kmaps[name]}
        de = {e["key"]: e["value"] for e in dmaps[name]}
        if [e["key"] for e in dmaps[name]] != sorted(de):
            diffs.append(f"map {name}: dataplane entries not sorted by key")
        for key in sorted(set(ke) | set(de)):
            if key not in de or key not in ke:
                diffs.append(f"map {name} key {key}: only in {'kernel' if key in ke else 'dataplane'} "
                             f"(value {ke.get(key, de.get(key))})")
            elif name not in case.keys_only and ke[key] != de[key]:
                diffs.append(f"map {name} key {key}: kernel {ke[key]} dataplane {de[key]}")
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... and {len(diffs) - limit} more"]
    return diffs


def _first_diff(a: str, b: str) -> str:
    if len(a) != len(b):
        head = f"length kernel {len(a) // 2} dataplane {len(b) // 2}; "
    else:
        head = ""
    i = next((j for j in range(0, min(len(a), len(b)), 2) if a[j:j + 2] != b[j:j + 2]), min(len(a), len(b)))
    return f"{head}first difference at byte {i // 2}: kernel {a[i:i + 16]} dataplane {b[i:i + 16]}"


def be16(v: int) -> bytes:
    return struct.pack(">H", v)
