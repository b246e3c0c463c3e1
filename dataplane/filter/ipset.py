"""Sets in ``ipset save`` format -> IpSet values (later: BPF hash/LPM maps).

Supported types are the ones firewalls use for block and allow lists:
``hash:ip``, ``hash:net`` (with ``nomatch`` exceptions: longest prefix
wins, as ipset's lookup tries the longest prefix first), ``hash:ip,port``
and ``hash:net,port`` (port entries are ``[tcp:|udp:]port``, tcp by
default).  Create options ipset prints (family inet, hashsize, maxelem,
bucketsize, initval) are accepted; the element count is held to maxelem
as ipset holds it.  Anything else (IPv6, timeouts, counters, other types)
is an error naming the line.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from dataplane.filter import names as N
from dataplane.filter.errors import RulesetError
from dataplane.filter.lexer import split_words
from dataplane.filter.rules import parse_cidr

SET_TYPES = ("hash:ip", "hash:net", "hash:ip,port", "hash:net,port")
DEFAULT_MAXELEM = 65536
MAX_MAXELEM = 4_000_000            # largest set this translator builds a map for
MAX_SETS = 1024
SETNAME_MAX = 31                   # IPSET_MAXNAMELEN - 1
RANGE_EXPAND_MAX = 65536           # hash:ip ranges expand to single addresses


@dataclass
class IpSet:
    name: str
    type: str
    maxelem: int = DEFAULT_MAXELEM
    create_opts: list[str] = field(default_factory=list)    # as given, for ipset save
    # hash:ip -> {ip}; hash:net -> {(net, plen): nomatch}; ...,port -> {(addr|net,plen, proto, port)}
    entries: dict = field(default_factory=dict)
    line: int = 0

    @property
    def has_port(self) -> bool:
        return self.type.endswith(",port")

    @property
    def is_net(self) -> bool:
        return self.type.startswith("hash:net")

    def dims(self) -> int:
        return 2 if self.has_port else 1


_CREATE_UNSUPPORTED = {
    "timeout": "entries that expire, as fail2ban's ban sets, are not translated",
    "counters": "per-element counters are not translated",
    "comment": "element comments are not translated",
    "skbinfo": "skbinfo elements are not translated",
    "forceadd": "forceadd evicts entries at random when the set is full",
}


class SetParser:
    """Feeds ipset-save lines into ``sets`` (name -> IpSet)."""

    def __init__(self, source: str, sets: dict):
        self.source = source
        self.sets = sets

    def err(self, reason: str, line: int, token: str = "") -> RulesetError:
        return RulesetError(reason, line=line, token=token, source=self.source)

    def line(self, text: str, no: int) -> None:
        w = split_words(text, no, self.source)
        exist = bool(w) and w[0] in ("-exist", "-!")
        if exist:
            w = w[1:]
        if not w:
            return
        cmd = {"-N": "create", "-A": "add"}.get(w[0], w[0])
        if cmd == "create":
            self._create(w, no)
        elif cmd == "add":
            self._add(w, no, exist)
        else:
            raise self.err("unsupported ipset command (create and add are read)", no, w[0])

    def _create(self, w: list[str], no: int) -> None:
        if len(w) < 3:
            raise self.err("create needs a set name and a type", no, w[0])
        name, typ = w[1], w[2]
        if len(name) > SETNAME_MAX:
            raise self.err(f"set name longer than {SETNAME_MAX} characters", no, name)
        if name in self.sets:
            raise self.err(f"set '{name}' already exists", no, name)
        if typ not in SET_TYPES:
            raise self.err(f"set type {typ} is not supported (supported: {', '.join(SET_TYPES)})",
                           no, typ)
        if len(self.sets) >= MAX_SETS:
            raise self.err(f"more than {MAX_SETS} sets", no, name)
        s = IpSet(name, typ, line=no)
        i = 3
        while i < len(w):
            o = w[i]
            if o == "family":
                if i + 1 >= len(w) or w[i + 1] != "inet":
                    raise self.err("only family inet (IPv4) sets are supported", no,
                                   w[i + 1] if i + 1 < len(w) else o)
                s.create_opts += w[i:i + 2]
                i += 2
            elif o in ("hashsize", "bucketsize", "initval", "maxelem"):
                if i + 1 >= len(w):
                    raise self.err(f"{o} needs a value", no, o)
                if o == "maxelem":
                    try:
                        s.maxelem = int(w[i + 1], 0)
                    except ValueError:
                        raise self.err("bad maxelem value", no, w[i + 1]) from None
                    if not 1 <= s.maxelem <= MAX_MAXELEM:
                        raise self.err(f"maxelem must be 1..{MAX_MAXELEM}", no, w[i + 1])
                s.create_opts += w[i:i + 2]
                i += 2
            elif o in _CREATE_UNSUPPORTED:
                raise self.err(f"create option {o} is not supported ({_CREATE_UNSUPPORTED[o]})", no, o)
            else:
                raise self.err("unsupported create option", no, o)
        self.sets[name] = s

    def _add(self, w: list[str], no: int, exist: bool = False) -> None:
        if len(w) < 3:
            raise self.err("add needs a set name and an element", no, w[0])
        s = self.sets.get(w[1])
        if s is None:
            raise self.err(f"set '{w[1]}' does not exist", no, w[1])
        nomatch = False
        for o in w[3:]:
            if o == "nomatch" and s.is_net:
                nomatch = True
            else:
                raise self.err("unsupported element option", no, o)
        for key in self._elements(s, w[2], no):
            if key in s.entries and not exist:
                raise self.err(f"element cannot be added to set '{s.name}': it's already added", no, w[2])
            if key not in s.entries and len(s.entries) >= s.maxelem:
                raise self.err(f"set '{s.name}' is full (maxelem {s.maxelem})", no, w[2])
            s.entries[key] = nomatch

    def _elements(self, s: IpSet, text: str, no: int):
        addr, _, port = text.partition(",")
        if s.has_port and not port:
            raise self.err(f"{s.type} elements are ADDR,[PROTO:]PORT", no, text)
        if not s.has_port and port:
            raise self.err(f"{s.type} elements take no port", no, text)
        try:
            nets = self._addrs(s, addr)
        except ValueError as e:
            raise self.err(f"bad address ({e})", no, text) from None
        if not s.has_port:
            return nets
        proto, sep, p = port.partition(":")
        if not sep:
            proto, p = "tcp", proto
        if proto not in ("tcp", "udp"):
            raise self.err("only tcp and udp ports are supported in sets", no, text)
        lo, _, hi = p.partition("-")
        a, b = N.port_number(lo, proto), N.port_number(hi, proto) if hi else N.port_number(lo, proto)
        if a is None or b is None or a > b:
            raise self.err("bad port", no, text)
        pn = N.PROTOCOLS[proto]
        return [(n, pn, q) for n in nets for q in range(a, b + 1)]

    @staticmethod
    def _addrs(s: IpSet, text: str) -> list:
        if "-" in text:
            lo, hi = (int(ipaddress.IPv4Address(x)) for x in text.split("-", 1))
            if hi < lo or hi - lo >= RANGE_EXPAND_MAX:
                raise ValueError("bad or too large range")
            if not s.is_net:
                return list(range(lo, hi + 1))
            return [(int(n.network_address), n.prefixlen) for n in
                    ipaddress.summarize_address_range(ipaddress.IPv4Address(lo), ipaddress.IPv4Address(hi))]
        c = parse_cidr(text)
        if s.is_net:
            if c.plen == 0:
                raise ValueError("hash:net does not take /0")
            return [(c.addr, c.plen)]
        if c.plen < 32:
            if (1 << (32 - c.plen)) > RANGE_EXPAND_MAX:
                raise ValueError("network too large to expand into a hash:ip set")
            return list(range(c.addr, c.addr + (1 << (32 - c.plen))))
        return [c.addr]


def parse_sets(text: str, source: str = "ipset", sets: dict | None = None) -> dict:
    """A whole ``ipset save`` file -> {name: IpSet}."""
    out = {} if sets is None else sets
    p = SetParser(source, out)
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line and not line.startswith("#"):
            p.line(line, no)
    return out


def save_sets(sets: dict) -> str:
    """The sets in ``ipset save`` format."""
    out = []
    for s in sets.values():
        out.append(" ".join(["create", s.name, s.type] + s.create_opts))
        for key, nomatch in s.entries.items():
            out.append(f"add {s.name} {_elem(s, key)}" + (" nomatch" if nomatch else ""))
    return "\n".join(out) + ("\n" if out else "")


def _elem(s: IpSet, key) -> str:
    def a(x):
        if s.is_net:
            net, plen = x
            return str(ipaddress.IPv4Address(net)) + ("" if plen == 32 else f"/{plen}")
        return str(ipaddress.IPv4Address(x))
    if s.has_port:
        n, proto, port = key
        return f"{a(n)},{N.PROTO_NAMES[proto]}:{port}"
    return a(key)
