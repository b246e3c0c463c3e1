"""TAP devices: how PASS reaches the host stack from an AF_XDP hook on a
single interface.

AF_XDP takes a packet away from the kernel for good: there is no way to
hand a frame back to the stack of the interface it came in on.  So a
single-interface hook ("on a stick") creates a TAP device beside the
interface, with the interface's MAC address and MTU: PASS frames are
written to it and arrive in the host stack as received on the TAP; what the
host sends through the TAP is read back and sent out of the interface.  The
host's addresses for that link go on the TAP.

The device is not persistent (no TUNSETPERSIST): it disappears when its
file is closed, also when the service is killed, so it never outlives the
hook.
"""
from __future__ import annotations

import errno as _errno
import fcntl
import os
import struct

from . import netlink
from .netlink import InterfaceError

_TUNSETIFF = 0x400454CA
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000


class Tap:
    """``Tap(name, mac=None, mtu=None)``: an open TAP device, up."""

    def __init__(self, name: str, mac: str | None = None, mtu: int | None = None):
        if not name or len(name) > 15:
            raise InterfaceError(f"TAP name {name!r}: 1..15 characters")
        try:
            self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            raise InterfaceError(f"/dev/net/tun: {e.strerror} (TAP devices need the tun driver and "
                                 "CAP_NET_ADMIN)", kind=e.errno) from None
        try:
            ifr = struct.pack("16sH", name.encode(), _IFF_TAP | _IFF_NO_PI).ljust(40, b"\0")
            try:
                fcntl.ioctl(self.fd, _TUNSETIFF, ifr)
            except OSError as e:
                hint = " (needs CAP_NET_ADMIN)" if e.errno == _errno.EPERM else ""
                raise InterfaceError(f"TAP {name!r}: TUNSETIFF: {e.strerror}{hint}", kind=e.errno) from None
            self.name = name
            self.index = netlink.link_up(name, mac=mac, mtu=mtu)
        except BaseException:
            os.close(self.fd)
            self.fd = -1
            raise

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Tap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
