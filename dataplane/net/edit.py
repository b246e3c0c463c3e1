"""Edits of a NetState the control plane makes (the Fib service): add or
delete a route, set or delete a neighbour, and a bpf_fib_lookup from plain
values. Each returns a new NetState (states are immutable); Net.apply
publishes it."""
from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from dataplane.errors import DataplaneError, NotFound
from dataplane.net import model as M

RET_NAMES = ["SUCCESS", "BLACKHOLE", "UNREACHABLE", "PROHIBIT", "NOT_FWDED", "FWD_DISABLED", "UNSUPP_LWT",
             "NO_NEIGH", "FRAG_NEEDED", "NO_SRC_ADDR"]


def _bad(msg: str) -> DataplaneError:
    return DataplaneError(msg, kind=errno.EINVAL)


def _net(dst: str, dst_len: int) -> tuple[str, int]:
    try:
        n = ipaddress.ip_network(f"{dst}/{dst_len}", strict=False)
    except ValueError as exc:
        raise _bad(f"route {dst}/{dst_len}: {exc}") from None
    return str(n.network_address), n.prefixlen


def add_route(st: M.NetState, r: M.Route) -> M.NetState:
    dst, plen = _net(r.dst, r.dst_len)
    if r.gateway and M.family_of(r.gateway) != r.family and r.family == M.AF_INET6:
        raise _bad(f"route {dst}/{plen}: an IPv6 route needs an IPv6 gateway")
    if r.type == M.RTN_UNICAST and st.device(r.oif) is None:
        raise NotFound(f"route {dst}/{plen}: no device with ifindex {r.oif}")
    r = M.Route(dst=dst, dst_len=plen, oif=r.oif, gateway=r.gateway or None, table=r.table or M.RT_TABLE_MAIN,
                type=r.type, scope=r.scope, tos=r.tos, priority=r.priority, prefsrc=r.prefsrc or None, mtu=r.mtu,
                mtu_locked=r.mtu_locked, nh_flags=r.nh_flags, family=r.family)
    keep = tuple(x for x in st.routes if not (x.family == r.family and x.table == r.table and x.dst == r.dst
                                              and x.dst_len == r.dst_len and x.tos == r.tos
                                              and x.priority == r.priority))
    return st.with_(routes=keep + (r,), source="api")


def delete_route(st: M.NetState, dst: str, dst_len: int, table: int = 0, priority: int = 0) -> tuple[M.NetState, int]:
    dst, plen = _net(dst, dst_len)
    fam, table = M.family_of(dst), table or M.RT_TABLE_MAIN
    keep = tuple(x for x in st.routes if not (x.family == fam and x.table == table and x.dst == dst
                                              and x.dst_len == plen and (not priority or x.priority == priority)))
    return st.with_(routes=keep, source="api"), len(st.routes) - len(keep)


def set_neighbour(st: M.NetState, n: M.Neighbour) -> M.NetState:
    if st.device(n.ifindex) is None:
        raise NotFound(f"neighbour {n.address}: no device with ifindex {n.ifindex}")
    M._addr(n.address, n.family)
    M._mac(n.lladdr)
    keep = tuple(x for x in st.neighbours if not (x.ifindex == n.ifindex and x.address == n.address))
    return st.with_(neighbours=keep + (n,), source="api")


def delete_neighbour(st: M.NetState, ifindex: int, address: str) -> tuple[M.NetState, int]:
    keep = tuple(x for x in st.neighbours if not (x.ifindex == ifindex and x.address == address))
    return st.with_(neighbours=keep, source="api"), len(st.neighbours) - len(keep)


def lookup(net, dst: str, src: str = "", ifindex: int = 1, flags: int = 0, tot_len: int = 0, mark: int = 0,
           tbid: int = 0, l4_protocol: int = 0, sport: int = 0, dport: int = 0) -> dict:
    """bpf_fib_lookup on a Net from plain values: the fields the helper sets."""
    fam = M.family_of(dst)
    af = socket.AF_INET if fam == M.AF_INET else socket.AF_INET6
    n = 4 if fam == M.AF_INET else 16
    p = bytearray(64)
    try:
        p[16:16 + n] = socket.inet_pton(af, src) if src else bytes(n)
        p[32:32 + n] = socket.inet_pton(af, dst)
    except OSError as exc:
        raise _bad(f"lookup {src or '-'} -> {dst}: {exc}") from None
    struct.pack_into("<BBHHHI", p, 0, fam, l4_protocol, socket.htons(sport), socket.htons(dport), tot_len, ifindex)
    if flags & 8:
        struct.pack_into("<I", p, 48, tbid)
    if flags & 32:
        struct.pack_into("<I", p, 52, mark)
    ret, out = net.fib_lookup(bytes(p), flags)
    ofam = out[0]
    oaf, on = (socket.AF_INET, 4) if ofam == M.AF_INET else (socket.AF_INET6, 16)
    name = RET_NAMES[ret] if 0 <= ret < len(RET_NAMES) else errno.errorcode.get(-ret, str(ret))
    return {"ret": ret, "ret_name": name, "ifindex": struct.unpack_from("<I", out, 8)[0],
            "dst": socket.inet_ntop(oaf, out[32:32 + on]), "src": socket.inet_ntop(af, out[16:16 + n]),
            "smac": ":".join(f"{b:02x}" for b in out[52:58]), "dmac": ":".join(f"{b:02x}" for b in out[58:64]),
            "mtu_result": struct.unpack_from("<H", out, 6)[0], "rt_metric": struct.unpack_from("<I", out, 12)[0],
            "family": ofam}
