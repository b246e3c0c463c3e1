"""The load balancer of tests/progs/xdp_lb.c: the map contents that
configure it and packets that reach its branches (shared by the
differential test and benchmarks/kernel_compare.py). Two VIPs (TCP 80 on
10.0.0.100; any UDP port on 10.0.0.101, hashed without the source port),
their consistent-hash rings over six reals, the next hop's MAC, and the
decapsulation addresses.

The reals' own addresses are decapsulation addresses too (a two-tier setup
folded onto one box): BPF_PROG_TEST_RUN with ``repeat`` runs the program
again on its own output, so a repeated run decapsulates what the previous
run encapsulated and balances it again -- every run does the whole job.
"""
from __future__ import annotations

import socket
import struct

VIP_TCP = "10.0.0.100"
VIP_UDP = "10.0.0.101"
TIER = "10.0.0.200"                       # upstream tier's encapsulation target
REALS = [f"10.1.0.{i}" for i in range(1, 7)]
NEXT_HOP_MAC = bytes.fromhex("020000000099")
RING_SIZE = 64


def _ip(a: str) -> bytes:
    return socket.inet_aton(a)


def map_updates() -> list[tuple[str, bytes, bytes]]:
    """(map, key, value) in the order they are applied."""
    u: list[tuple[str, bytes, bytes]] = []
    # struct vip_definition {be32 vip; u16 port (network order); u8 proto; u8 pad} -> {u32 flags; u32 vip_num}
    u.append(("vip_map", _ip(VIP_TCP) + struct.pack("!H", 80) + bytes([6, 0]), struct.pack("<II", 0, 0)))
    u.append(("vip_map", _ip(VIP_UDP) + struct.pack("!H", 0) + bytes([17, 0]), struct.pack("<II", 1, 1)))
    for i in range(RING_SIZE):           # vip 0: reals 1-4, vip 1: reals 5-6
        u.append(("ch_rings", struct.pack("<I", i), struct.pack("<I", 1 + i % 4)))
        u.append(("ch_rings", struct.pack("<I", RING_SIZE + i), struct.pack("<I", 5 + i % 2)))
    for i, addr in enumerate(REALS, start=1):
        u.append(("reals", struct.pack("<I", i), _ip(addr) + struct.pack("<I", 0)))
    u.append(("ctl_array", struct.pack("<I", 0), NEXT_HOP_MAC + bytes(2)))
    for addr in [TIER, *REALS]:
        u.append(("decap_dst", _ip(addr), struct.pack("<I", 1)))
    return u


def packets() -> list[bytes]:
    """Packets that reach every branch of the balancer: flows to both VIPs
    (SYN, established, several sources so the ring picks several reals),
    a VIP port that is not served, ICMP, fragments, oversized and short
    headers, IPIP to a decapsulation address and to another one, IPv6/ARP."""
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether
    from scapy.packet import Raw

    eth = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    out: list[bytes] = []
    for i in range(12):
        src = f"10.2.{i}.{7 + i}"
        out.append(bytes(eth / IP(src=src, dst=VIP_TCP, tos=i * 4) / TCP(sport=40000 + i, dport=80, flags="S")))
        out.append(bytes(eth / IP(src=src, dst=VIP_TCP) / TCP(sport=40000 + i, dport=80, flags="A") / Raw(b"x" * i)))
        out.append(bytes(eth / IP(src=src, dst=VIP_UDP) / UDP(sport=5000 + i, dport=53 + i)))
    out += [
        bytes(eth / IP(src="10.2.0.7", dst=VIP_TCP) / TCP(sport=40000, dport=80, flags="A")),   # LRU hit
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP) / TCP(sport=1, dport=443)),                 # port not served
        bytes(eth / IP(src="10.2.0.1", dst="10.9.9.9") / TCP(sport=1, dport=80)),              # not a VIP
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP) / ICMP()),
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP, flags="MF") / TCP(sport=1, dport=80)),     # fragment
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP, ihl=6, options=b"\x01\x01\x01\x00") / TCP(dport=80)),
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP) / TCP(sport=2, dport=80) / Raw(bytes(1480))),  # > 1500
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP) / TCP(sport=2, dport=80))[:14 + 20 + 10],    # TCP cut short
        bytes(eth / IP(src="10.2.0.1", dst=VIP_TCP))[:14 + 12],                                   # IP cut short
        bytes(eth / IP(src="10.3.0.1", dst=TIER) / IP(src="10.2.5.5", dst=VIP_TCP) / TCP(sport=7, dport=80)),
        bytes(eth / IP(src="10.3.0.1", dst=TIER) / IP(src="10.2.5.6", dst=VIP_UDP) / UDP(sport=9, dport=9)),
        bytes(eth / IP(src="10.3.0.1", dst="10.3.3.3") / IP(src="10.2.5.5", dst=VIP_TCP) / TCP(dport=80)),
        bytes(eth / IP(src="10.3.0.1", dst=TIER, proto=4))[:14 + 20 + 6],                        # inner cut short
        bytes(eth / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(dport=53)),
        bytes(eth / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2")),
        bytes(eth)[:14],
    ]
    return out
