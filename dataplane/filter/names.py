"""Names iptables accepts for numbers: protocols, services, ICMP types,
TCP flags, conntrack states, reject types.  One table each, shared by the
parser (name -> number) and the formatters (number -> name)."""
from __future__ import annotations

import socket

# xtables_chain_protos plus what /etc/protocols adds, in iptables' spelling.
PROTOCOLS = {"all": 0, "tcp": 6, "udp": 17, "udplite": 136, "icmp": 1, "esp": 50, "ah": 51,
             "sctp": 132, "gre": 47, "igmp": 2, "ipv6": 41, "ospf": 89}
PROTO_NAMES = {v: k for k, v in PROTOCOLS.items() if k != "all"}
# names xtables knows itself (xtables_chain_protos), beside /etc/protocols'
_XT_ALIASES = {"icmpv6": 58, "ipv6-icmp": 58, "ipv6-mh": 135, "mh": 135, "udplite": 136}

TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20,
             "ALL": 0x3F, "NONE": 0}
TCP_FLAG_ORDER = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")

# (name, type, code_min, code_max), libxt_icmp's table (aliases after the name)
ICMP_TYPES = [
    ("any", 0xFF, 0, 0xFF), ("echo-reply", 0, 0, 0xFF), ("pong", 0, 0, 0xFF),
    ("destination-unreachable", 3, 0, 0xFF), ("network-unreachable", 3, 0, 0),
    ("host-unreachable", 3, 1, 1), ("protocol-unreachable", 3, 2, 2), ("port-unreachable", 3, 3, 3),
    ("fragmentation-needed", 3, 4, 4), ("source-route-failed", 3, 5, 5), ("network-unknown", 3, 6, 6),
    ("host-unknown", 3, 7, 7), ("network-prohibited", 3, 9, 9), ("host-prohibited", 3, 10, 10),
    ("TOS-network-unreachable", 3, 11, 11), ("TOS-host-unreachable", 3, 12, 12),
    ("communication-prohibited", 3, 13, 13), ("host-precedence-violation", 3, 14, 14),
    ("precedence-cutoff", 3, 15, 15), ("source-quench", 4, 0, 0xFF), ("redirect", 5, 0, 0xFF),
    ("network-redirect", 5, 0, 0), ("host-redirect", 5, 1, 1), ("TOS-network-redirect", 5, 2, 2),
    ("TOS-host-redirect", 5, 3, 3), ("echo-request", 8, 0, 0xFF), ("ping", 8, 0, 0xFF),
    ("router-advertisement", 9, 0, 0xFF), ("router-solicitation", 10, 0, 0xFF),
    ("time-exceeded", 11, 0, 0xFF), ("ttl-exceeded", 11, 0, 0xFF), ("ttl-zero-during-transit", 11, 0, 0),
    ("ttl-zero-during-reassembly", 11, 1, 1), ("parameter-problem", 12, 0, 0xFF),
    ("ip-header-bad", 12, 0, 0), ("required-option-missing", 12, 1, 1),
    ("timestamp-request", 13, 0, 0xFF), ("timestamp-reply", 14, 0, 0xFF),
    ("address-mask-request", 17, 0, 0xFF), ("address-mask-reply", 18, 0, 0xFF),
]

CT_STATES = {"INVALID": 1, "ESTABLISHED": 2, "RELATED": 4, "NEW": 8, "UNTRACKED": 16,
             "SNAT": 32, "DNAT": 64}
# The order xt_conntrack/xt_state print states in.
CT_STATE_ORDER = ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT")

REJECT_TYPES = {
    "icmp-net-unreachable": (3, 0), "net-unreach": (3, 0),
    "icmp-host-unreachable": (3, 1), "host-unreach": (3, 1),
    "icmp-proto-unreachable": (3, 2), "proto-unreach": (3, 2),
    "icmp-port-unreachable": (3, 3), "port-unreach": (3, 3),
    "icmp-net-prohibited": (3, 9), "net-prohib": (3, 9),
    "icmp-host-prohibited": (3, 10), "host-prohib": (3, 10),
    "icmp-admin-prohibited": (3, 13), "admin-prohib": (3, 13),
    "tcp-reset": None, "tcp-rst": None,
}
REJECT_CANONICAL = ("icmp-net-unreachable", "icmp-host-unreachable", "icmp-proto-unreachable",
                    "icmp-port-unreachable", "icmp-net-prohibited", "icmp-host-prohibited",
                    "icmp-admin-prohibited", "tcp-reset")
_REJECT_CANON = {}
for _n in REJECT_CANONICAL:
    _REJECT_CANON[_n] = _n
for _n, _v in REJECT_TYPES.items():
    _REJECT_CANON.setdefault(_n, next(c for c in REJECT_CANONICAL if REJECT_TYPES[c] == _v))


def reject_canonical(name: str) -> str:
    return _REJECT_CANON[name]


_U64 = 1 << 64


def c_number(text: str, hi: int) -> int | None:
    """``text`` read as iptables reads a number (xtables_strtoui: C's
    strtoumax in base 0, the whole string consumed): leading blanks and a
    sign allowed, ``0x`` hex, a leading ``0`` octal (so "010" is 8 and "08"
    is no number), a minus wrapping modulo 2**64; None when it is no number
    or out of 0..``hi``."""
    t = text.lstrip(" \t\n\v\f\r")
    neg = t[:1] == "-"
    if t[:1] in "+-" and t:
        t = t[1:]
    if t[:2] in ("0x", "0X") and len(t) > 2:
        base, digits = 16, t[2:]
    elif t[:1] == "0":
        base, digits = 8, t
    else:
        base, digits = 10, t
    if not digits or any(c not in "0123456789abcdefABCDEF"[:base if base <= 10 else 22] for c in digits):
        return None
    v = int(digits, base)
    if v >= _U64:
        return None                      # ERANGE
    if neg:
        v = (_U64 - v) % _U64
    return v if v <= hi else None


def protocol_number(text: str) -> int | None:
    t = text.lower()
    if t in PROTOCOLS:
        return PROTOCOLS[t]
    if t in _XT_ALIASES:
        return _XT_ALIASES[t]
    n = c_number(t, 255)
    if n is not None:
        return n
    try:
        return socket.getprotobyname(t)
    except OSError:
        return None


def port_number(text: str, proto: str = "tcp") -> int | None:
    n = c_number(text, 65535)
    if n is not None:
        return n
    try:
        return socket.getservbyname(text, proto)
    except OSError:
        return None


def tcp_flags_str(flags: int) -> str:
    names = [n for n in TCP_FLAG_ORDER if flags & TCP_FLAGS[n]]
    return ",".join(names) if names else "NONE"


def _etc_protocols() -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        with open("/etc/protocols") as f:
            for line in f:
                w = line.split("#", 1)[0].split()
                if len(w) >= 2 and w[1].isdigit():
                    out.setdefault(int(w[1]), w[0])
    except OSError:
        pass
    return out


# (135 prints as /etc/protocols' "mobility-header": iptables-save 1.8.9 here, tests/test_filter_numbers.py)
_CHAIN_PROTOS = {6: "tcp", 132: "sctp", 17: "udp", 136: "udplite", 1: "icmp", 58: "ipv6-icmp",
                 50: "esp", 51: "ah"}
_BY_NUMBER: dict[int, str] | None = None


def proto_name(num: int) -> str:
    """The name iptables-save prints for a protocol number (xtables_chain_protos,
    then /etc/protocols, else the number)."""
    global _BY_NUMBER
    if _BY_NUMBER is None:
        _BY_NUMBER = {**_etc_protocols(), **_CHAIN_PROTOS}
    return _BY_NUMBER.get(num, str(num))
