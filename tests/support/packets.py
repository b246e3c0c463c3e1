"""Packet builders the tests share.

Raw builders (no scapy, fast enough to make thousands of packets): ``ip4``
wraps an L4 payload in Ethernet + IPv4 with a valid header checksum,
``tcp4``/``udp4`` build on it. Scapy builders (``scapy_udp``/``scapy_tcp``)
give fully consistent packets (L4 checksums) for differential tests.
"""
from __future__ import annotations

import socket
import struct

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
ETH = b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"


def csum(b: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ip4(src: str, dst: str, proto: int, l4: bytes) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return ETH + h + l4


def tcp4(src: str, dst: str, sport: int, dport: int, flags: int) -> bytes:
    """A 20-byte TCP header (seq 1, window 65535) with ``flags``, no payload."""
    return ip4(src, dst, 6, struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, flags, 65535, 0, 0))


def udp4(src: str, dst: str, sport: int, dport: int, payload: bytes = b"q" * 8) -> bytes:
    return ip4(src, dst, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)


def scapy_udp(sport: int = 1234, dport: int = 53, payload: bytes = b"x" * 20) -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
                 / UDP(sport=sport, dport=dport) / payload)


def scapy_tcp(dport: int = 80, payload: bytes = b"hello") -> bytes:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    return bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=dport) / payload)
