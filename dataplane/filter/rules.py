"""The rule IR: what a parsed ``*filter`` table means, independent of text.

A :class:`Ruleset` holds chains in declaration order; each :class:`Chain`
its rules in order; each :class:`Rule` the generic header matches (``-s``,
``-d``, ``-p``, ``-i``, ``-o``, ``-f``), its extension matches (objects from
:mod:`dataplane.filter.matches`) and one :class:`Target`.  Addresses are
host-order ints; everything here is pure data, so the parser, the
formatters and the code generator agree on one representation.
"""
from __future__ import annotations

import contextlib
import gc
import ipaddress
from dataclasses import dataclass, field

BUILTIN_CHAINS = ("INPUT", "FORWARD", "OUTPUT")
# Verdict-like targets; anything else that is not an extension target is a chain.
STANDARD_TARGETS = ("ACCEPT", "DROP", "RETURN")
MAX_RULES = 200_000          # rules per ruleset
MAX_CHAINS = 50_000
CHAIN_NAME_MAX = 28          # XT_EXTENSION_MAXNAMELEN - 1 (iptables' limit)


@dataclass(frozen=True)
class Cidr:
    addr: int                # network address, host order
    plen: int

    @property
    def mask(self) -> int:
        return (0xFFFFFFFF << (32 - self.plen)) & 0xFFFFFFFF if self.plen else 0

    def contains(self, ip: int) -> bool:
        return (ip & self.mask) == self.addr

    def __str__(self) -> str:
        return f"{ipaddress.IPv4Address(self.addr)}/{self.plen}"


@dataclass(frozen=True)
class Neg:
    """A value with iptables' ``!``."""
    value: object
    neg: bool = False


@dataclass
class Target:
    kind: str                          # ACCEPT DROP RETURN JUMP GOTO REJECT LOG MARK NONE
    chain: str = ""                    # JUMP / GOTO
    opts: dict = field(default_factory=dict)   # extension target options (parsed)

    @property
    def terminal(self) -> bool:
        """Ends the traversal of the current chain for a matching packet."""
        return self.kind in ("ACCEPT", "DROP", "RETURN", "REJECT", "GOTO")


@dataclass
class Rule:
    chain: str
    line: int = 0
    src: Neg | None = None             # Neg(Cidr)
    dst: Neg | None = None
    proto: Neg | None = None           # Neg(int protocol number); None = all
    iif: Neg | None = None             # Neg(str interface name, may end in '+')
    oif: Neg | None = None
    frag: bool | None = None           # True: -f, False: ! -f
    matches: list = field(default_factory=list)
    target: Target = field(default_factory=lambda: Target("NONE"))
    counters: list = field(default_factory=lambda: [0, 0])   # [packets, bytes] from input


@dataclass
class Chain:
    name: str
    builtin: bool
    policy: str = ""                   # ACCEPT/DROP for built-in chains
    counters: list = field(default_factory=lambda: [0, 0])
    rules: list[Rule] = field(default_factory=list)
    line: int = 0


@dataclass
class Ruleset:
    chains: dict[str, Chain] = field(default_factory=dict)
    sets: dict = field(default_factory=dict)      # name -> dataplane.filter.ipset.IpSet

    def save_order(self) -> list[Chain]:
        """Chains as iptables-save lists them: the built-in ones, then user
        chains sorted by name."""
        b = [self.chains[n] for n in BUILTIN_CHAINS if n in self.chains]
        return b + sorted((c for c in self.chains.values() if not c.builtin), key=lambda c: c.name)

    def all_rules(self) -> list[Rule]:
        """Rules in iptables-save order: that order is the counter index."""
        return [r for c in self.save_order() for r in c.rules]

    def builtins(self) -> list[Chain]:
        return [self.chains[n] for n in BUILTIN_CHAINS if n in self.chains]


@contextlib.contextmanager
def no_gc():
    """Build big rulesets without the cyclic GC: every rule is several small
    objects and none form cycles, so generation-2 collections (whole-heap
    walks, more frequent as the heap grows) would only cost time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def parse_ipv4(text: str) -> int:
    """A dotted quad -> host-order int (ValueError otherwise)."""
    parts = text.split(".")
    if len(parts) != 4:
        raise ValueError(f"{text!r} is not an IPv4 address")
    v = 0
    for p in parts:
        if not p.isdigit() or len(p) > 3 or int(p) > 255:
            raise ValueError(f"{text!r} is not an IPv4 address")
        v = v << 8 | int(p)
    return v


def xt_ipv4(text: str, is_mask: bool = False) -> int | None:
    """An address as xtables reads one (__numeric_to_ipaddr), None if it is
    not numeric: at most 19 characters are looked at, up to four
    dot-separated parts, each a number in C's base 0 ("010" is 8, "0x0a"
    10); an address of fewer parts is completed with zero bytes ("10.1" is
    10.1.0.0), a mask is not."""
    from dataplane.filter.names import c_number
    parts = text[:19].split(".")
    if len(parts) > 4 or (is_mask and len(parts) != 4):
        return None
    v = 0
    for p in parts:
        b = c_number(p, 255)
        if b is None:
            return None
        v = v << 8 | b
    return v << 8 * (4 - len(parts))


def parse_cidr(text: str, xtables: bool = False) -> Cidr:
    """``a.b.c.d[/len|/mask]`` (host bits cleared): dotted quads only, or
    with ``xtables`` as iptables reads -s/-d (xt_ipv4, a length in base 0)."""
    from dataplane.filter.names import c_number
    addr, _, plen = text.partition("/")
    if xtables:
        ip = xt_ipv4(addr)
        if ip is None:
            raise ValueError(f"{addr!r} is not an IPv4 address")
    else:
        ip = parse_ipv4(addr)
    if not plen:
        n = 32
    elif "." in plen:
        m = xt_ipv4(plen, is_mask=True) if xtables else parse_ipv4(plen)
        if m is None:
            raise ValueError(f"invalid mask `{plen}' specified")
        n = bin(m).count("1")
        if m != ((0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF if n else 0):
            raise ValueError(f"non-contiguous mask {plen}")
    else:
        n = c_number(plen, 32) if xtables else (int(plen) if plen.isdigit() and int(plen) <= 32 else None)
        if n is None:
            raise ValueError(f"invalid prefix length {plen}")
    c = Cidr(0, n)
    return Cidr(ip & c.mask, n)


def ip_str(ip: int) -> str:
    return str(ipaddress.IPv4Address(ip))
