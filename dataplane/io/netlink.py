"""Interfaces, queues and XDP attachment over netlink (pyroute2).

The live hooks (AF_XDP, AF_PACKET) need four things from the kernel's
network configuration: does an interface exist (index, MTU, state), how
many RX queues does it have (one socket and one worker per queue), which XDP
program is attached in which mode, and attaching/detaching the dataplane's
own redirect program.  pyroute2 speaks rtnetlink and ethtool; nothing here
is on a data path.

XDP attachments made with netlink belong to the interface, not to the
process: they survive a crash of the service.  So the redirect program's
name carries the owner's pid (``dpxsk_<pid>``) and :func:`cleanup_stale`
removes programs whose owner is gone (run at service start and before an
attach), while a live owner's attachment is never touched.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import errno as _errno
import functools
import os
import re
import threading
from dataclasses import dataclass, field

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from dataplane.errors import DataplaneError, NotFound

from . import kbpf

# include/uapi/linux/if_link.h
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4

MODES = ("auto", "native", "generic")
_MODE_FLAGS = {"native": XDP_FLAGS_DRV_MODE, "generic": XDP_FLAGS_SKB_MODE}
# IFLA_XDP_ATTACHED as pyroute2 names it -> our names
_ATTACHED = {"xdp": "native", "xdpgeneric": "generic", "xdpoffload": "offload", "xdpmulti": "multi"}

OWNER_PREFIX = "dpxsk_"
_OWNER_RE = re.compile(r"^dpxsk_(\d+)$")


class InterfaceError(DataplaneError):
    """An interface that cannot be used as asked: missing (ENODEV), busy with
    another XDP program (EBUSY), a missing capability (EPERM) ..."""


@dataclass
class XdpState:
    mode: str = ""            # "", "native", "generic", "offload", "multi"
    prog_id: int = 0
    prog_name: str = ""

    @property
    def attached(self) -> bool:
        return self.prog_id != 0

    def owner_pid(self) -> int:
        """The pid in a dataplane redirect program's name, else 0."""
        m = _OWNER_RE.match(self.prog_name)
        return int(m.group(1)) if m else 0


@dataclass
class Interface:
    name: str
    index: int
    mtu: int
    up: bool                  # IFF_UP (administratively)
    oper: str                 # IFLA_OPERSTATE: "UP", "DOWN", "LOWERLAYERDOWN", ...
    kind: str                 # IFLA_INFO_KIND ("veth", "" for a physical device ...)
    mac: str
    rx_queues: int            # real RX queues (ethtool channels), what AF_XDP binds to
    tx_queues: int
    xdp: XdpState = field(default_factory=XdpState)

    @property
    def running(self) -> bool:
        return self.up and self.oper in ("UP", "UNKNOWN")


_lock = threading.Lock()      # one IPRoute socket per call; pyroute2 sockets are not shared across threads
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="netlink")


def _off_loop(fn):
    """pyroute2's synchronous API runs its own asyncio loop, which cannot
    start on a thread whose loop is already running (the gRPC service's):
    there, the call is made on a helper thread and waited for."""
    @functools.wraps(fn)
    def call(*args, **kw):
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return fn(*args, **kw)
        return _pool.submit(fn, *args, **kw).result()
    return call


def _ipr() -> IPRoute:
    return IPRoute()


def _prog_name(prog_id: int) -> str:
    if not prog_id:
        return ""
    try:
        fd = kbpf.prog_get_fd_by_id(prog_id)
    except OSError:
        return ""             # gone in between, or no CAP_SYS_ADMIN
    try:
        return kbpf.prog_info(fd)["name"]
    finally:
        os.close(fd)


def _xdp_state(msg) -> XdpState:
    xdp = msg.get_attr("IFLA_XDP")
    if not xdp:
        return XdpState()
    attrs = dict(xdp.get("attrs", []))
    mode = _ATTACHED.get(attrs.get("IFLA_XDP_ATTACHED") or "", "")
    pid = attrs.get("IFLA_XDP_PROG_ID") or attrs.get("IFLA_XDP_DRV_PROG_ID") or attrs.get("IFLA_XDP_SKB_PROG_ID") or 0
    return XdpState(mode, int(pid), _prog_name(int(pid)))


def _queues(name: str, msg) -> tuple[int, int]:
    """(rx, tx) real queue counts: ethtool channels (combined + dedicated),
    else the counts rtnetlink reports."""
    try:
        from pyroute2.ethtool import Ethtool
        with Ethtool() as et:
            ch = et.get_channels(name)
        rx, tx = ch.combined_count + ch.rx_count, ch.combined_count + ch.tx_count
        if rx > 0:
            return rx, max(tx, 1)
    except Exception:         # EOPNOTSUPP and friends: the driver has no channel API
        pass
    return int(msg.get_attr("IFLA_NUM_RX_QUEUES") or 1), int(msg.get_attr("IFLA_NUM_TX_QUEUES") or 1)


_SIOCETHTOOL = 0x8946
_ETHTOOL_GDRVINFO = 0x00000003
_DRVINFO_SIZE = 196          # struct ethtool_drvinfo (include/uapi/linux/ethtool.h)


def driver(name: str) -> str:
    """The interface's driver as `ethtool -i` names it (ETHTOOL_GDRVINFO:
    "veth", "mlx5_core", "ixgbe" ...); "" when the device has no ethtool
    driver info.  pyroute2's ethtool has no drvinfo call: the ioctl is
    small enough to make here."""
    import array
    import fcntl
    import socket
    import struct
    buf = array.array("B", struct.pack("I", _ETHTOOL_GDRVINFO) + bytes(_DRVINFO_SIZE - 4))
    ifr = struct.pack("16sP", name.encode()[:15], buf.buffer_info()[0])
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            fcntl.ioctl(s.fileno(), _SIOCETHTOOL, ifr)
    except OSError:
        return ""
    return bytes(buf[4:36]).split(b"\0", 1)[0].decode("ascii", "replace")


def _interface(msg) -> Interface:
    name = msg.get_attr("IFLA_IFNAME")
    info = msg.get_attr("IFLA_LINKINFO")
    kind = ""
    if info:
        kind = dict(info.get("attrs", [])).get("IFLA_INFO_KIND", "") or ""
    rx, tx = _queues(name, msg)
    return Interface(name=name, index=msg["index"], mtu=int(msg.get_attr("IFLA_MTU") or 0),
                     up=bool(msg["flags"] & 1), oper=msg.get_attr("IFLA_OPERSTATE") or "",
                     kind=kind, mac=msg.get_attr("IFLA_ADDRESS") or "", rx_queues=rx, tx_queues=tx,
                     xdp=_xdp_state(msg))


@_off_loop
def interfaces() -> list[Interface]:
    """Every interface of the caller's network namespace, by index."""
    with _lock, _ipr() as ipr:
        return sorted((_interface(m) for m in ipr.get_links()), key=lambda i: i.index)


@_off_loop
def interface(name_or_index: str | int) -> Interface:
    """One interface by name or index; InterfaceError(ENODEV) when there is none."""
    with _lock, _ipr() as ipr:
        try:
            if isinstance(name_or_index, int):
                msgs = ipr.get_links(name_or_index)
            else:
                idx = ipr.link_lookup(ifname=name_or_index)
                if not idx:
                    raise InterfaceError(f"interface {name_or_index!r} does not exist", kind=_errno.ENODEV)
                msgs = ipr.get_links(idx[0])
        except NetlinkError as e:
            if e.code == _errno.ENODEV:
                raise InterfaceError(f"interface {name_or_index!r} does not exist", kind=_errno.ENODEV) from None
            raise InterfaceError(f"interface {name_or_index!r}: {os.strerror(e.code)}", kind=e.code) from None
        return _interface(msgs[0])


@_off_loop
def link_up(name: str, *, mac: str | None = None, mtu: int | None = None) -> int:
    """Set an interface up (and its MAC address / MTU); returns its index."""
    with _lock, _ipr() as ipr:
        idx = ipr.link_lookup(ifname=name)
        if not idx:
            raise InterfaceError(f"interface {name!r} does not exist", kind=_errno.ENODEV)
        kw = {}
        if mac:
            kw["address"] = mac
        if mtu:
            kw["mtu"] = mtu
        try:
            ipr.link("set", index=idx[0], state="up", **kw)
        except NetlinkError as e:
            raise InterfaceError(f"interface {name!r}: {os.strerror(e.code)}", kind=e.code) from None
        return idx[0]


@_off_loop
def _set_xdp(ifindex: int, fd: int, flags: int, expected_fd: int | None = None) -> None:
    attrs = [("IFLA_XDP_FD", fd), ("IFLA_XDP_FLAGS", flags)]
    if expected_fd is not None:
        attrs.append(("IFLA_XDP_EXPECTED_FD", expected_fd))
    with _lock, _ipr() as ipr:
        ipr.link("set", index=ifindex, xdp={"attrs": attrs})


def _attach_error(iface: Interface, e: NetlinkError, mode: str) -> InterfaceError:
    if e.code == _errno.EBUSY or e.code == _errno.EEXIST:
        return InterfaceError(f"interface {iface.name!r} already has an XDP program attached "
                              f"({interface(iface.index).xdp.prog_name or 'unnamed'}); detach it or use force",
                              kind=_errno.EBUSY)
    if e.code == _errno.EPERM:
        return InterfaceError(f"interface {iface.name!r}: attaching XDP needs CAP_NET_ADMIN (and CAP_BPF "
                              "to load the program)", kind=_errno.EPERM)
    return InterfaceError(f"interface {iface.name!r}: attaching XDP in {mode} mode: {os.strerror(e.code)}",
                          kind=e.code)


@_off_loop
def xdp_attach(name_or_index: str | int, prog_fd: int, mode: str = "auto", *, force: bool = False) -> str:
    """Attach ``prog_fd`` as the interface's XDP program; returns the mode
    used ("native" or "generic").  ``auto`` tries the driver (native) first
    and falls back to generic XDP where the driver has none.  Without
    ``force`` an interface that already has a program is refused (EBUSY) --
    atomically, with XDP_FLAGS_UPDATE_IF_NOEXIST, so two services cannot both
    win; with ``force`` it is replaced."""
    if mode not in MODES:
        raise InterfaceError(f"xdp mode {mode!r}: expected one of {', '.join(MODES)}")
    iface = interface(name_or_index)
    noexist = 0 if force else XDP_FLAGS_UPDATE_IF_NOEXIST
    if force and iface.xdp.attached:
        # a program in the other mode would make the attach fail with EEXIST:
        # the kernel allows one mode per device at a time
        _detach_any(iface)
    tried = ["native", "generic"] if mode == "auto" else [mode]
    last: NetlinkError | None = None
    for m in tried:
        try:
            _set_xdp(iface.index, prog_fd, _MODE_FLAGS[m] | noexist)
            return m
        except NetlinkError as e:
            last = e
            # only a driver without native XDP falls through to generic
            if not (mode == "auto" and m == "native" and e.code in (_errno.EOPNOTSUPP, _errno.EINVAL)):
                raise _attach_error(iface, e, m) from None
    raise _attach_error(iface, last, tried[-1]) from None


def _detach_any(iface: Interface) -> None:
    flags = _MODE_FLAGS.get(iface.xdp.mode, 0)
    try:
        _set_xdp(iface.index, -1, flags)
    except NetlinkError as e:
        raise InterfaceError(f"interface {iface.name!r}: detaching XDP: {os.strerror(e.code)}", kind=e.code) from None


@_off_loop
def xdp_detach(name_or_index: str | int, mode: str, expected_fd: int | None = None) -> bool:
    """Remove the interface's XDP program (mode "native" or "generic").  With
    ``expected_fd``: only if that program is still the one attached (someone
    may have replaced it with force), via XDP_FLAGS_REPLACE.  Returns False
    when there was nothing (of ours) to remove, or the interface is gone."""
    try:
        iface = interface(name_or_index)
    except InterfaceError as e:
        if e.kind == _errno.ENODEV:
            return False      # deleted: its program went with it
        raise
    if not iface.xdp.attached:
        return False
    flags = _MODE_FLAGS.get(mode, 0)
    try:
        if expected_fd is not None:
            _set_xdp(iface.index, -1, flags | XDP_FLAGS_REPLACE, expected_fd)
        else:
            _set_xdp(iface.index, -1, flags)
    except NetlinkError as e:
        if e.code in (_errno.EEXIST, _errno.ENODEV):
            return False      # EEXIST: the attached program is not ours any more
        raise InterfaceError(f"interface {iface.name!r}: detaching XDP: {os.strerror(e.code)}", kind=e.code) from None
    return True


def _owner_alive(pid: int) -> bool:
    """True while process ``pid`` exists.  Errs on the safe side: a reused
    pid keeps a stale program until a later cleanup, but a live owner's
    program is never removed."""
    return pid == os.getpid() or os.path.exists(f"/proc/{pid}")


@_off_loop
def cleanup_stale() -> list[tuple[str, int]]:
    """Detach every dataplane redirect program whose owning process is gone
    (after kill -9): [(interface name, prog id)] removed."""
    removed = []
    for iface in interfaces():
        pid = iface.xdp.owner_pid()
        if pid and not _owner_alive(pid):
            if xdp_detach(iface.index, iface.xdp.mode):
                removed.append((iface.name, iface.xdp.prog_id))
    return removed


def owner_name(pid: int | None = None) -> str:
    """The redirect program name that marks ``pid`` (default: this process) as its owner."""
    return f"{OWNER_PREFIX}{os.getpid() if pid is None else pid}"
