"""Conntrack tuples as Python values, packed to the C `struct dp_ct_tuple`.

Wire layout (40 bytes, see csrc/conntrack.h): src[16] dst[16] sport(be16)
dport(be16) zone(u16 native) l3(u8) l4(u8).  IPv4 addresses fill the first 4
bytes.  ICMP/ICMPv6 keep the echo id in ``sport`` and ``type << 8 | code`` in
``dport`` (type in the first byte, as the kernel's dst.u.icmp).
"""
from __future__ import annotations

import ipaddress
import socket
import struct
from dataclasses import dataclass

from dataplane.errors import DataplaneError

AF_INET = 2
AF_INET6 = 10

PROTO_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "dccp": 33, "gre": 47, "icmpv6": 58, "sctp": 132, "udplite": 136}
PROTO_NAMES = {v: k for k, v in PROTO_NUMBERS.items()}
ICMP_PROTOS = (1, 58)

_FMT = "=16s16sHHHBB"
TUPLE_SIZE = struct.calcsize(_FMT)
assert TUPLE_SIZE == 40


def proto_number(proto: int | str) -> int:
    if isinstance(proto, str):
        try:
            return PROTO_NUMBERS[proto.lower()]
        except KeyError:
            raise DataplaneError(f"unknown protocol {proto!r}") from None
    if not 0 <= proto <= 255:
        raise DataplaneError(f"protocol {proto} out of range")
    return proto


@dataclass(frozen=True)
class CtTuple:
    """One direction of a connection: ``proto`` number, addresses as text,
    ports in host order (ICMP: ``sport`` = id, ``dport`` = type << 8 | code)."""

    proto: int
    src: str
    dst: str
    sport: int = 0
    dport: int = 0
    zone: int = 0

    def __post_init__(self):
        object.__setattr__(self, "proto", proto_number(self.proto))
        s, d = ipaddress.ip_address(self.src), ipaddress.ip_address(self.dst)
        if s.version != d.version:
            raise DataplaneError(f"mixed address families: {self.src} / {self.dst}")
        object.__setattr__(self, "src", str(s))
        object.__setattr__(self, "dst", str(d))
        for name in ("sport", "dport", "zone"):
            v = getattr(self, name)
            if not 0 <= v <= 0xFFFF:
                raise DataplaneError(f"{name} {v} out of range")

    @classmethod
    def icmp(cls, src: str, dst: str, id: int, type: int = 8, code: int = 0, zone: int = 0) -> "CtTuple":
        proto = 58 if ipaddress.ip_address(src).version == 6 else 1
        return cls(proto, src, dst, id, (type << 8) | code, zone)

    @classmethod
    def of(cls, value) -> "CtTuple":
        """Accept a CtTuple or a plain (proto, src, dst, sport, dport[, zone])."""
        if isinstance(value, CtTuple):
            return value
        return cls(*value)

    @property
    def l3(self) -> int:
        return AF_INET6 if ":" in self.src else AF_INET

    @property
    def is_icmp(self) -> bool:
        return self.proto in ICMP_PROTOS

    def pack(self) -> bytes:
        fam = self.l3
        if fam == AF_INET:
            s = socket.inet_pton(socket.AF_INET, self.src) + bytes(12)
            d = socket.inet_pton(socket.AF_INET, self.dst) + bytes(12)
        else:
            s = socket.inet_pton(socket.AF_INET6, self.src)
            d = socket.inet_pton(socket.AF_INET6, self.dst)
        return struct.pack(_FMT, s, d, socket.htons(self.sport), socket.htons(self.dport), self.zone, fam, self.proto)

    @classmethod
    def unpack(cls, raw: bytes) -> "CtTuple":
        s, d, sp, dp, zone, fam, proto = struct.unpack(_FMT, raw)
        if fam == AF_INET:
            src, dst = socket.inet_ntop(socket.AF_INET, s[:4]), socket.inet_ntop(socket.AF_INET, d[:4])
        else:
            src, dst = socket.inet_ntop(socket.AF_INET6, s), socket.inet_ntop(socket.AF_INET6, d)
        return cls(proto, src, dst, socket.ntohs(sp), socket.ntohs(dp), zone)

    def as_dict(self) -> dict:
        """The fields `conntrack -L` prints for this direction."""
        d = {"src": self.src, "dst": self.dst}
        if self.is_icmp:
            d.update(type=self.dport >> 8, code=self.dport & 0xFF, id=self.sport)
        else:
            d.update(sport=self.sport, dport=self.dport)
        return d
