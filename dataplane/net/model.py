"""The network namespace model as plain data: what bpf_fib_lookup and
bpf_check_mtu see (devices, addresses, routes, policy rules, neighbours).

A :class:`NetState` is immutable; :class:`dataplane.net.core.Net` publishes
one to the helpers and the control plane replaces it as a whole (learnt from
a real netns by :mod:`dataplane.net.learn`, or edited with ``replace``).
Field names and values follow rtnetlink (``ip route``/``ip rule``/``ip
neigh``): RTN_* route types, RT_SCOPE_* scopes, FR_ACT_* rule actions,
NUD_* neighbour states, IFF_* device flags.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace

AF_INET, AF_INET6 = 2, 10

# rtm_type
RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_ANYCAST, RTN_MULTICAST = 1, 2, 3, 4, 5
RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT, RTN_THROW = 6, 7, 8, 9
ROUTE_TYPES = {"unicast": RTN_UNICAST, "local": RTN_LOCAL, "broadcast": RTN_BROADCAST,
               "anycast": RTN_ANYCAST, "multicast": RTN_MULTICAST, "blackhole": RTN_BLACKHOLE,
               "unreachable": RTN_UNREACHABLE, "prohibit": RTN_PROHIBIT, "throw": RTN_THROW}
# rtm_scope
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
# tables
RT_TABLE_DEFAULT, RT_TABLE_MAIN, RT_TABLE_LOCAL = 253, 254, 255
# fib rule actions
FR_ACT_TO_TBL, FR_ACT_GOTO, FR_ACT_NOP = 1, 2, 3
FR_ACT_BLACKHOLE, FR_ACT_UNREACHABLE, FR_ACT_PROHIBIT = 6, 7, 8
FIB_RULE_INVERT = 2
# next-hop flags
RTNH_F_DEAD, RTNH_F_ONLINK, RTNH_F_LINKDOWN = 1, 4, 16
# neighbour states
NUD_INCOMPLETE, NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE = 0x01, 0x02, 0x04, 0x08, 0x10
NUD_FAILED, NUD_NOARP, NUD_PERMANENT = 0x20, 0x40, 0x80
# device flags
IFF_UP, IFF_LOOPBACK, IFF_POINTOPOINT, IFF_RUNNING = 0x1, 0x8, 0x10, 0x40
# IPv4 address flags
IFA_F_SECONDARY = 0x01

ETH_HLEN = 14


def _addr(text: str | bytes | None, family: int) -> bytes:
    """16 bytes in network order (IPv4 in the first 4)."""
    if text is None or text == "":
        return bytes(16)
    if isinstance(text, (bytes, bytearray)):
        raw = bytes(text)
    else:
        raw = ipaddress.ip_address(text).packed
    if (family == AF_INET and len(raw) != 4) or (family == AF_INET6 and len(raw) != 16):
        raise ValueError(f"address {text!r} is not of family {family}")
    return raw.ljust(16, b"\0")


def family_of(text: str) -> int:
    return AF_INET6 if ":" in text else AF_INET


def _mac(text: str | bytes | None) -> bytes:
    if text is None:
        return bytes(6)
    if isinstance(text, (bytes, bytearray)):
        if len(text) != 6:
            raise ValueError(f"MAC address must be 6 bytes, got {len(text)}")
        return bytes(text)
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"bad MAC address {text!r}")
    return bytes(int(p, 16) for p in parts)


@dataclass(frozen=True)
class Device:
    ifindex: int
    name: str = ""
    mtu: int = 1500
    mac: str = "00:00:00:00:00:00"
    flags: int = IFF_UP | IFF_RUNNING
    hard_header_len: int = ETH_HLEN   # dev->hard_header_len: 14 for Ethernet and loopback
    ipv4: bool = True                 # has an in_device (IPv4 configuration)
    ipv6: bool = True                 # has an inet6_dev
    forwarding4: bool = False         # net.ipv4.conf.<dev>.forwarding
    forwarding6: bool = False         # net.ipv6.conf.<dev>.forwarding
    mtu6: int = 0                     # net.ipv6.conf.<dev>.mtu (0: the device MTU)
    ignore_linkdown4: bool = False
    ignore_linkdown6: bool = False
    route_localnet: bool = False


@dataclass(frozen=True)
class Address:
    ifindex: int
    address: str
    prefixlen: int
    scope: int = RT_SCOPE_UNIVERSE
    flags: int = 0                    # IFA_F_* (secondary, tentative 0x40, deprecated 0x20)

    @property
    def family(self) -> int:
        return family_of(self.address)


@dataclass(frozen=True)
class NextHop:
    """One path of a multipath route (``ip route ... nexthop via GW dev D weight W``)."""
    oif: int
    gateway: str | None = None
    flags: int = 0                    # RTNH_F_*
    weight: int = 1                   # rtnh_hops + 1


@dataclass(frozen=True)
class Route:
    dst: str                          # network address ("0.0.0.0" / "::" for default)
    dst_len: int
    oif: int = 0                      # egress device (reject routes: usually lo)
    gateway: str | None = None        # next hop; None: directly connected
    table: int = RT_TABLE_MAIN
    type: int = RTN_UNICAST
    scope: int = RT_SCOPE_UNIVERSE
    tos: int = 0                      # rtm_tos
    priority: int = 0                 # metric
    prefsrc: str | None = None
    mtu: int = 0
    mtu_locked: bool = False
    nh_flags: int = 0                 # RTNH_F_*
    family: int = 0                   # 0: from dst
    nexthops: tuple = ()              # NextHop, 2 or more: a multipath route (oif/gateway: the first)

    def __post_init__(self):
        if not self.family:
            object.__setattr__(self, "family", family_of(self.dst))


@dataclass(frozen=True)
class Rule:
    family: int
    priority: int
    table: int = RT_TABLE_MAIN
    action: int = FR_ACT_TO_TBL
    src: str | None = None
    src_len: int = 0
    dst: str | None = None
    dst_len: int = 0
    iif: int = 0                      # ifindex; -1: a name that matches no device
    oif: int = 0
    fwmark: int = 0
    fwmask: int = 0
    tos: int = 0
    ip_proto: int = 0
    sport: tuple = (0, 0)             # inclusive range, host order; (0, 0) any
    dport: tuple = (0, 0)
    suppress_prefixlen: int = -1
    flags: int = 0                    # FIB_RULE_INVERT
    goto: int = 0                     # FR_ACT_GOTO target priority
    l3mdev: bool = False
    uid_range: tuple = (0, 0xFFFFFFFF)


@dataclass(frozen=True)
class Neighbour:
    ifindex: int
    address: str
    lladdr: str = "00:00:00:00:00:00"
    state: int = NUD_PERMANENT

    @property
    def family(self) -> int:
        return family_of(self.address)


# socket states (TCP_*, as struct bpf_sock's state and sock_diag report them)
TCP_ESTABLISHED, TCP_SYN_RECV, TCP_TIME_WAIT, TCP_CLOSE, TCP_LISTEN, TCP_NEW_SYN_RECV = 1, 3, 6, 7, 10, 12
IPPROTO_TCP, IPPROTO_UDP = 6, 17


@dataclass(frozen=True)
class Socket:
    """A TCP or UDP socket of the namespace (what `ss -tuan` lists):
    ``local``/``lport`` its bound address and port, ``remote``/``rport``
    the connected peer (wildcard and 0 when not connected)."""
    protocol: int                     # IPPROTO_TCP / IPPROTO_UDP
    family: int
    state: int                        # TCP_*; UDP: TCP_CLOSE unconnected, TCP_ESTABLISHED connected
    local: str
    lport: int
    remote: str | None = None
    rport: int = 0
    bound_dev_if: int = 0             # SO_BINDTODEVICE
    v6only: bool = False              # IPV6_V6ONLY (AF_INET6 only)
    mark: int = 0
    priority: int = 0
    backlog: int = 0                  # a listener's sk_max_ack_backlog (listen(2)'s, capped by somaxconn)
    accept_queue: int = 0             # a listener's sk_ack_backlog: accepted connections not yet accept()ed


def default_rules() -> tuple:
    """The rules of a fresh netns (ip rule show; ip -6 rule show)."""
    return (Rule(AF_INET, 0, RT_TABLE_LOCAL), Rule(AF_INET, 32766, RT_TABLE_MAIN),
            Rule(AF_INET, 32767, RT_TABLE_DEFAULT),
            Rule(AF_INET6, 0, RT_TABLE_LOCAL), Rule(AF_INET6, 32766, RT_TABLE_MAIN))


LOOPBACK = Device(1, "lo", 65536, flags=IFF_LOOPBACK, ipv4=True, ipv6=True)


@dataclass(frozen=True)
class NetState:
    devices: tuple = (LOOPBACK,)
    addresses: tuple = ()
    routes: tuple = ()
    rules: tuple = field(default_factory=default_rules)
    neighbours: tuple = ()
    sockets: tuple = ()               # Socket: what bpf_sk_lookup_* and bpf_skc_lookup_tcp find
    fwd_use_pmtu: bool = False        # net.ipv4.ip_forward_use_pmtu
    tcp_syncookies: int = 1           # net.ipv4.tcp_syncookies (bpf_tcp_gen/check_syncookie)
    # net.ipv4.fib_multipath_hash_policy / _seed / _fields, fib_multipath_use_neigh:
    # how an IPv4 multipath route picks a path. Seed 0 means the kernel's
    # own random key, which no model can know: such lookups are refused.
    mp_hash_policy: int = 0
    mp_hash_seed: int = 0
    mp_hash_fields: int = 0x7
    mp_use_neigh: bool = False
    source: str = "fresh"             # where it came from (netns name, "api")

    def device(self, ifindex: int) -> Device | None:
        return next((d for d in self.devices if d.ifindex == ifindex), None)

    def with_(self, **kw) -> "NetState":
        return replace(self, **kw)

    def summary(self) -> dict:
        return {"source": self.source, "devices": len(self.devices), "addresses": len(self.addresses),
                "routes": len(self.routes), "rules": len(self.rules), "neighbours": len(self.neighbours),
                "sockets": len(self.sockets)}


def fresh() -> NetState:
    """A new network namespace: loopback (down, no address), the default rules."""
    return NetState()


__all__ = ["NetState", "Device", "Address", "NextHop", "Route", "Rule", "Neighbour", "Socket", "fresh", "default_rules",
           "_addr", "_mac", "family_of"]
