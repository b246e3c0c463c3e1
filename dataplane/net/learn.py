"""Learn a network namespace model from the kernel over rtnetlink (pyroute2).

``learn(netns)`` dumps the links (with their IPv4/IPv6 devconf: per-device
forwarding, mtu6, ignore_routes_with_linkdown), addresses, routes of every
table, policy rules and neighbours of ``netns`` (a name under /run/netns;
None: this process's namespace) over rtnetlink, and its TCP/UDP sockets
over sock_diag (both with pyroute2), and returns a NetState: a snapshot, as
of the call. Multipath routes keep every next hop and the hash settings
(net.ipv4.fib_multipath_hash_*) that pick one (see dataplane.net).
"""
from __future__ import annotations

import ctypes
import errno
import os
import threading

from dataplane.errors import DataplaneError, NotFound
from dataplane.net import model as M

# ARPHRD_* -> dev->hard_header_len for the device kinds a test or router meets
_HARD_HEADER_LEN = {1: 14, 772: 14, 65534: 0, 768: 0, 769: 0, 776: 0, 823: 0}


def _attr(msg, name, default=None):
    v = msg.get_attr(name) if hasattr(msg, "get_attr") else None
    return default if v is None else v


def _devconf(link, family: str) -> dict:
    spec = link.get_attr("IFLA_AF_SPEC")
    if not spec:
        return {}
    for name, val in spec["attrs"]:
        if name == family:
            if family == "AF_INET":
                return dict(val) if isinstance(val, dict) else {}
            for n2, v2 in val.get("attrs", []):
                if n2 == "IFLA_INET6_CONF":
                    return dict(v2)
    return {}


def _device(link) -> M.Device:
    v4, v6 = _devconf(link, "AF_INET"), _devconf(link, "AF_INET6")
    mtu = _attr(link, "IFLA_MTU", 0)
    return M.Device(
        ifindex=link["index"], name=_attr(link, "IFLA_IFNAME", ""), mtu=mtu,
        mac=_attr(link, "IFLA_ADDRESS", "00:00:00:00:00:00") or "00:00:00:00:00:00",
        flags=link["flags"], hard_header_len=_HARD_HEADER_LEN.get(link["ifi_type"], 14),
        ipv4=bool(v4), ipv6=bool(v6),
        forwarding4=bool(v4.get("forwarding", 0)), forwarding6=bool(v6.get("forwarding", 0)),
        mtu6=v6.get("mtu", 0) if v6 else 0,
        ignore_linkdown4=bool(v4.get("ignore_routes_with_linkdown", 0)),
        ignore_linkdown6=bool(v6.get("ignore_routes_with_linkdown", 0)),
        route_localnet=bool(v4.get("route_localnet", 0)))


def _route(msg) -> M.Route | None:
    fam = msg["family"]
    table = _attr(msg, "RTA_TABLE", msg["table"])
    dst = _attr(msg, "RTA_DST") or ("0.0.0.0" if fam == M.AF_INET else "::")
    if msg.get("src_len"):
        return None            # IPv6 source-specific routes are not modelled
    oif, gw, nh_flags = _attr(msg, "RTA_OIF", 0), _attr(msg, "RTA_GATEWAY"), msg["flags"] & 0xFF
    via = _attr(msg, "RTA_VIA")
    if via:
        gw = via.get("addr")
    mp = _attr(msg, "RTA_MULTIPATH")
    nexthops = []
    for nh in mp or ():        # every path; oif/gateway/flags name the first (as before)
        ngw = nh.get_attr("RTA_GATEWAY") if hasattr(nh, "get_attr") else None
        nvia = nh.get_attr("RTA_VIA") if hasattr(nh, "get_attr") else None
        if nvia:
            ngw = nvia.get("addr")
        nexthops.append(M.NextHop(oif=nh.get("oif", 0), gateway=ngw, flags=nh.get("flags", 0),
                                  weight=nh.get("hops", 0) + 1))
    if nexthops:
        oif, gw, nh_flags = nexthops[0].oif, nexthops[0].gateway, nexthops[0].flags
    mtu, locked = 0, False
    metrics = _attr(msg, "RTA_METRICS")
    if metrics:
        for name, val in metrics.get("attrs", []):
            if name == "RTAX_MTU":
                mtu = val
            elif name == "RTAX_LOCK":
                locked = bool(val & (1 << 2))     # 1 << RTAX_MTU
    return M.Route(dst=dst, dst_len=msg["dst_len"], oif=oif, gateway=gw, table=table, type=msg["type"],
                   scope=msg["scope"], tos=msg["tos"], priority=_attr(msg, "RTA_PRIORITY", 0),
                   prefsrc=_attr(msg, "RTA_PREFSRC"), mtu=mtu, mtu_locked=locked, nh_flags=nh_flags,
                   family=fam, nexthops=tuple(nexthops) if len(nexthops) > 1 else ())


def _rule(msg, ifindex: dict) -> M.Rule:
    def dev(attr):
        name = _attr(msg, attr)
        if not name:
            return 0
        return ifindex.get(name, -1)       # a rule naming a missing device never matches
    rng = lambda a: (lambda v: (v["start"], v["end"]) if v else (0, 0))(_attr(msg, a))
    uid = _attr(msg, "FRA_UID_RANGE")
    return M.Rule(
        family=msg["family"], priority=_attr(msg, "FRA_PRIORITY", 0),
        table=_attr(msg, "FRA_TABLE", msg["table"]), action=msg["action"],
        src=_attr(msg, "FRA_SRC"), src_len=msg["src_len"], dst=_attr(msg, "FRA_DST"), dst_len=msg["dst_len"],
        iif=dev("FRA_IIFNAME"), oif=dev("FRA_OIFNAME"), fwmark=_attr(msg, "FRA_FWMARK", 0),
        fwmask=_attr(msg, "FRA_FWMASK", 0), tos=msg["tos"], ip_proto=_attr(msg, "FRA_IP_PROTO", 0),
        sport=rng("FRA_SPORT_RANGE"), dport=rng("FRA_DPORT_RANGE"),
        suppress_prefixlen=_signed(_attr(msg, "FRA_SUPPRESS_PREFIXLEN", 0xFFFFFFFF)),
        flags=msg["flags"], goto=_attr(msg, "FRA_GOTO", 0), l3mdev=bool(_attr(msg, "FRA_L3MDEV", 0)),
        uid_range=(uid["start"], uid["end"]) if uid else (0, 0xFFFFFFFF))


def _signed(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


_CLONE_NEWNET = 0x40000000


def _setns(netns: str) -> None:
    """Move the calling thread into /run/netns/<netns> (setns(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns if netns.startswith("/") else f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns({netns}): {os.strerror(e)}")
    finally:
        os.close(fd)


def _in_netns(netns: str | None, fn):
    """fn() on a thread that joined netns (sockets it opens live there)."""
    if not netns:
        return fn()
    out = {}

    def run():
        try:
            _setns(netns)
            out["v"] = fn()
        except BaseException as exc:     # re-raised by the caller
            out["e"] = exc
    t = threading.Thread(target=run, name="dp-netns-diag")
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["v"]


def _u32(v) -> int:
    """A u32 attribute pyroute2 may hand over as hex bytes ("07:00:00:00")."""
    if isinstance(v, str):
        return int.from_bytes(bytes.fromhex(v.replace(":", "")), "little")
    return int(v or 0)


def _sockets() -> tuple:
    """TCP and UDP sockets of the calling thread's namespace (sock_diag)."""
    from socket import AF_INET, AF_INET6
    from pyroute2 import DiagSocket
    out = []
    with DiagSocket() as ds:
        ds.bind()
        for fam in (AF_INET, AF_INET6):
            for proto in (M.IPPROTO_TCP, M.IPPROTO_UDP):
                for m in ds.get_sock_stats(family=fam, protocol=proto, states=0xFFF):
                    state = m["idiag_state"]
                    if proto == M.IPPROTO_TCP and state == M.TCP_SYN_RECV:
                        state = M.TCP_NEW_SYN_RECV      # a request socket in the established hash
                    v6only = bool(_attr(m, "INET_DIAG_SKV6ONLY", 0)) if fam == AF_INET6 else False
                    # a listener's queue (inet_diag: rqueue sk_ack_backlog, wqueue sk_max_ack_backlog)
                    listen = proto == M.IPPROTO_TCP and state == M.TCP_LISTEN
                    out.append(M.Socket(
                        protocol=proto, family=int(fam), state=state, local=m["idiag_src"],
                        lport=m["idiag_sport"], remote=m["idiag_dst"], rport=m["idiag_dport"],
                        bound_dev_if=m["idiag_if"], v6only=v6only, mark=_u32(_attr(m, "INET_DIAG_MARK", 0)),
                        backlog=m["idiag_wqueue"] if listen else 0, accept_queue=m["idiag_rqueue"] if listen else 0))
    return tuple(out)


def learn(netns: str | None = None) -> M.NetState:
    """The model of network namespace ``netns`` as the kernel has it now.

    Everything is read on a thread that joined the namespace (setns), with
    netlink sockets opened there: pyroute2's own netns support forks a
    helper process, which is not safe in a threaded server."""
    if netns and ("/" in netns or not os.path.exists(f"/run/netns/{netns}")):
        raise NotFound(f"network namespace {netns!r}: not found under /run/netns")
    try:
        st = _in_netns(netns, _learn_here)
    except OSError as exc:
        raise DataplaneError(f"network namespace {netns!r}: {exc.strerror or exc}",
                             kind=exc.errno or errno.ENOENT) from None
    return st.with_(source=netns or "self")


def _learn_here() -> M.NetState:
    """The calling thread's network namespace, over rtnetlink and sock_diag."""
    from pyroute2 import IPRoute
    ipr = IPRoute()
    try:
        links = list(ipr.get_links())
        devices = tuple(_device(l) for l in links)
        names = {d.name: d.ifindex for d in devices}
        addrs = []
        for a in ipr.get_addr():
            addr = _attr(a, "IFA_LOCAL") or _attr(a, "IFA_ADDRESS")
            if addr is None:
                continue
            flags = _attr(a, "IFA_FLAGS", a["flags"])
            addrs.append(M.Address(a["index"], addr, a["prefixlen"], a["scope"], flags))
        routes = []
        for fam in (M.AF_INET, M.AF_INET6):
            for r in ipr.route("dump", family=fam):
                if r["header"].get("type") != 24:     # RTM_NEWROUTE only
                    continue
                rt = _route(r)
                if rt is not None and not (r["flags"] & 0x200):   # RTM_F_CLONED: cache, not FIB
                    routes.append(rt)
        rules = tuple(_rule(r, names) for fam in (M.AF_INET, M.AF_INET6) for r in ipr.get_rules(family=fam))
        neigh = []
        for n in ipr.get_neighbours():
            addr = _attr(n, "NDA_DST")
            if addr is None or n["family"] not in (M.AF_INET, M.AF_INET6):
                continue
            neigh.append(M.Neighbour(n["ifindex"], addr, _attr(n, "NDA_LLADDR") or "00:00:00:00:00:00",
                                     n["state"]))
    finally:
        ipr.close()
    return M.NetState(devices=devices, addresses=tuple(addrs), routes=tuple(routes), rules=rules,
                      neighbours=tuple(neigh), sockets=_sockets(), fwd_use_pmtu=bool(_sysctl("ip_forward_use_pmtu")),
                      mp_hash_policy=_sysctl("fib_multipath_hash_policy"),
                      mp_hash_seed=_sysctl("fib_multipath_hash_seed"),
                      mp_hash_fields=_sysctl("fib_multipath_hash_fields", 0x7),
                      mp_use_neigh=bool(_sysctl("fib_multipath_use_neigh")),
                      tcp_syncookies=_sysctl("tcp_syncookies", 1))


def _sysctl(name: str, default: int = 0) -> int:
    """net.ipv4.<name> of the calling thread's namespace (/proc/sys/net is
    per namespace); ``default`` where this kernel lacks it."""
    try:
        with open(f"/proc/sys/net/ipv4/{name}") as f:
            v = f.read().split()[0]
        return int(v, 16) if v.startswith("0x") else int(v)
    except (OSError, ValueError, IndexError):
        return default
