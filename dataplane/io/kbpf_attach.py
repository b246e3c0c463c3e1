"""The kernel's attach and link commands (bpf_mprog / tcx, XDP links), through kbpf.

An extension of :mod:`dataplane.io.kbpf` (same ctypes syscall, same
``union bpf_attr`` discipline) for the commands that attach programs:
BPF_PROG_ATTACH / BPF_PROG_DETACH / BPF_PROG_QUERY with the bpf_mprog fields
(relative_fd|relative_id, expected_revision, link_ids, revision),
BPF_LINK_CREATE (tcx and XDP), BPF_LINK_UPDATE, BPF_LINK_DETACH,
BPF_LINK_GET_FD_BY_ID and link info. Tests use it to run the kernel's tcx as
the oracle of the dataplane's hooks; kernel placement uses the XDP link.

Every call raises :class:`~dataplane.io.kbpf.KernelBpfError` (an OSError
with the kernel's errno) when the kernel refuses.
"""
from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass

from dataplane.io.kbpf import _addr, _attr, _sys_bpf, obj_get_info

# enum bpf_cmd
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_QUERY = 16
BPF_LINK_CREATE = 28
BPF_LINK_UPDATE = 29
BPF_LINK_GET_FD_BY_ID = 30
BPF_LINK_DETACH = 34

# enum bpf_attach_type
BPF_XDP = 37
BPF_TCX_INGRESS = 46
BPF_TCX_EGRESS = 47

# enum bpf_link_type
BPF_LINK_TYPE_XDP = 6
BPF_LINK_TYPE_TCX = 11

# tcx program return codes (include/uapi/linux/bpf.h enum tcx_action_base)
TCX_NEXT = -1
TCX_PASS = 0
TCX_DROP = 2

# include/uapi/linux/if_link.h XDP_FLAGS_*
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2

_QUERY_MAX = 64     # BPF_MPROG_MAX: no tcx hook holds more


def prog_attach(prog_fd: int, target_ifindex: int, attach_type: int, *, flags: int = 0, relative: int = 0,
                replace_fd: int = 0, expected_revision: int = 0) -> None:
    """BPF_PROG_ATTACH. ``relative``: an fd, or an id with BPF_F_ID in ``flags``."""
    a = _attr()
    struct.pack_into("<IIIIIIQ", a, 0, target_ifindex, prog_fd, attach_type, flags, replace_fd, relative,
                     expected_revision)
    _sys_bpf(BPF_PROG_ATTACH, a, "BPF_PROG_ATTACH")


def prog_detach(prog_fd: int, target_ifindex: int, attach_type: int, *, flags: int = 0, relative: int = 0,
                expected_revision: int = 0) -> None:
    """BPF_PROG_DETACH; ``prog_fd`` 0 detaches by position (BPF_F_BEFORE/AFTER)."""
    a = _attr()
    struct.pack_into("<IIIIIIQ", a, 0, target_ifindex, prog_fd, attach_type, flags, 0, relative,
                     expected_revision)
    _sys_bpf(BPF_PROG_DETACH, a, "BPF_PROG_DETACH")


@dataclass(frozen=True)
class QueryResult:
    count: int
    revision: int
    prog_ids: tuple[int, ...]
    link_ids: tuple[int, ...]
    prog_attach_flags: tuple[int, ...]
    link_attach_flags: tuple[int, ...]
    attach_flags: int


def prog_query(target_ifindex: int, attach_type: int, *, count: int | None = _QUERY_MAX, query_flags: int = 0,
               attach_flags: int = 0) -> QueryResult:
    """BPF_PROG_QUERY with bpf_mprog's fields. ``count``: the id arrays'
    size (None: no arrays, count and revision only). Raises on ENOSPC too
    (prog_query_raw returns what the kernel wrote alongside the errno)."""
    from dataplane.io.kbpf import KernelBpfError
    err, res = prog_query_raw(target_ifindex, attach_type, count=count, query_flags=query_flags,
                              attach_flags=attach_flags)
    if err:
        raise KernelBpfError(err, "BPF_PROG_QUERY")
    return res


def prog_query_raw(target_ifindex: int, attach_type: int, *, count: int | None, query_flags: int = 0,
                   attach_flags: int = 0) -> tuple[int, QueryResult]:
    """BPF_PROG_QUERY returning (errno or 0, what the kernel wrote back):
    ENOSPC (arrays smaller than the chain) comes with the first ``count``
    ids, the real count and the revision."""
    from dataplane.io.kbpf import KernelBpfError
    n = max(count or 0, 1)
    arrays = [(ctypes.c_uint32 * n)() for _ in range(4)] if count is not None else [None] * 4
    a = _attr()
    struct.pack_into("<IIIIQI", a, 0, target_ifindex, attach_type, query_flags, attach_flags,
                     _addr(arrays[0]), count or 0)
    struct.pack_into("<QQQ", a, 32, _addr(arrays[1]), _addr(arrays[2]), _addr(arrays[3]))
    err = 0
    try:
        _sys_bpf(BPF_PROG_QUERY, a, "BPF_PROG_QUERY")
    except KernelBpfError as e:
        err = e.errno
    aflags, = struct.unpack_from("<I", a, 12)
    total, = struct.unpack_from("<I", a, 24)
    revision, = struct.unpack_from("<Q", a, 56)
    k = min(total, count or 0)
    cols = [tuple(arr[:k]) if arr is not None else () for arr in arrays]
    return err, QueryResult(total, revision, cols[0], cols[2], cols[1], cols[3], aflags)


def link_create(prog_fd: int, target_ifindex: int, attach_type: int, *, flags: int = 0, relative: int = 0,
                expected_revision: int = 0) -> int:
    """BPF_LINK_CREATE (tcx: relative + expected_revision; XDP: flags are
    XDP_FLAGS_*). Returns the link fd."""
    a = _attr()
    struct.pack_into("<IIIIIIQ", a, 0, prog_fd, target_ifindex, attach_type, flags, relative, 0,
                     expected_revision)
    return _sys_bpf(BPF_LINK_CREATE, a, "BPF_LINK_CREATE")


def link_update(link_fd: int, new_prog_fd: int, *, flags: int = 0, old_prog_fd: int = 0) -> None:
    """BPF_LINK_UPDATE (``old_prog_fd`` only with BPF_F_REPLACE in ``flags``)."""
    a = _attr()
    struct.pack_into("<IIII", a, 0, link_fd, new_prog_fd, flags, old_prog_fd)
    _sys_bpf(BPF_LINK_UPDATE, a, "BPF_LINK_UPDATE")


def link_detach(link_fd: int) -> None:
    a = _attr()
    struct.pack_into("<I", a, 0, link_fd)
    _sys_bpf(BPF_LINK_DETACH, a, "BPF_LINK_DETACH")


def link_get_fd_by_id(link_id: int) -> int:
    a = _attr()
    struct.pack_into("<I", a, 0, link_id)
    return _sys_bpf(BPF_LINK_GET_FD_BY_ID, a, f"BPF_LINK_GET_FD_BY_ID {link_id}")


def link_info(link_fd: int) -> dict:
    """bpf_link_info: type, id, prog_id; for tcx and XDP links the ifindex
    (0 once the device is gone) and, for tcx, the attach type."""
    raw = obj_get_info(link_fd, 64)
    ltype, lid, pid = struct.unpack_from("<III", raw, 0)
    out = {"type": ltype, "id": lid, "prog_id": pid}
    if ltype == BPF_LINK_TYPE_TCX:
        out["ifindex"], out["attach_type"] = struct.unpack_from("<II", raw, 16)
    elif ltype == BPF_LINK_TYPE_XDP:
        out["ifindex"], = struct.unpack_from("<I", raw, 16)
    return out
