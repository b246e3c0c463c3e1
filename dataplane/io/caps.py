"""Which Linux capabilities this process holds, and what a live transport
needs of them -- so a hook that cannot come up says which one is missing
before it touches the kernel, instead of a bare EPERM from whichever step
happens to run first (the kernel says EPERM for every one of them).

What each transport needs (kernel 6.x; measured with
tests/test_deploy_caps.py, README "Kubernetes"):

  AF_XDP    CAP_NET_ADMIN  XDP attach over rtnetlink; loading an XDP program
                           and creating an XSKMAP (bpf_token_capable(NET_ADMIN))
            CAP_BPF        BPF_PROG_LOAD / BPF_MAP_CREATE at all (CAP_SYS_ADMIN
                           also counts, as bpf_capable() has it)
            CAP_NET_RAW    socket(AF_XDP)
            CAP_IPC_LOCK   pinning the UMEM, unless RLIMIT_MEMLOCK covers it
                           (xdp_umem_account_pages)
  AF_PACKET CAP_NET_RAW    socket(AF_PACKET)

Only the effective set counts (``/proc/self/status`` CapEff): that is what
the kernel checks, whatever the bounding set or file capabilities say.
"""
from __future__ import annotations

import errno
import resource

from dataplane.errors import DataplaneError

# include/uapi/linux/capability.h
CAP_BITS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_SYS_ADMIN": 21, "CAP_BPF": 39}

_WHY = {
    ("afxdp", "CAP_NET_ADMIN"): "attaching the XDP redirect program and creating its XSKMAP",
    ("afxdp", "CAP_BPF"): "BPF_PROG_LOAD of the XDP redirect program",
    ("afxdp", "CAP_NET_RAW"): "AF_XDP sockets",
    ("afpacket", "CAP_NET_RAW"): "AF_PACKET sockets",
}
# a capability that stands in for another (bpf_capable(): CAP_BPF or CAP_SYS_ADMIN)
_ALSO = {"CAP_BPF": "CAP_SYS_ADMIN"}


def effective(status: str | None = None) -> set[str]:
    """The capabilities of CAP_BITS in this process's effective set."""
    if status is None:
        with open("/proc/self/status") as f:
            status = f.read()
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            mask = int(line.split()[1], 16)
            return {name for name, bit in CAP_BITS.items() if mask >> bit & 1}
    return set(CAP_BITS)           # no CapEff line (not Linux /proc): let the kernel decide


def has(cap: str, eff: set[str] | None = None) -> bool:
    eff = effective() if eff is None else eff
    return cap in eff or (cap in _ALSO and _ALSO[cap] in eff)


def memlock_limit() -> int:
    """RLIMIT_MEMLOCK's soft limit in bytes (-1: unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    return -1 if soft == resource.RLIM_INFINITY else soft


def missing(io: str, umem_bytes: int = 0, eff: set[str] | None = None) -> list[tuple[str, str]]:
    """[(capability, what needs it)] that a live hook on ``io`` lacks;
    ``umem_bytes``: the AF_XDP UMEM it would pin in all."""
    eff = effective() if eff is None else eff
    out = [(cap, why) for (t, cap), why in _WHY.items() if t == io and not has(cap, eff)]
    if io == "afxdp" and not has("CAP_IPC_LOCK", eff):
        limit = memlock_limit()
        if 0 <= limit < umem_bytes:
            out.append(("CAP_IPC_LOCK", f"pinning {umem_bytes >> 20} MiB of UMEM beyond RLIMIT_MEMLOCK "
                                        f"of {limit >> 10} KiB, or raise that limit"))
    return out


def require(io: str, what: str, umem_bytes: int = 0) -> None:
    """Raise EPERM naming every capability ``io`` needs that this process lacks."""
    lack = missing(io, umem_bytes)
    if not lack:
        return
    detail = ", ".join(f"{c} ({why})" for c, why in lack)
    hint = ""
    if io == "afxdp" and all(c != "CAP_NET_RAW" for c, _ in lack):
        hint = "; io: afpacket needs only CAP_NET_RAW"
    raise DataplaneError(f"{what}: missing capabilit{'ies' if len(lack) > 1 else 'y'} {detail}{hint}",
                         kind=errno.EPERM)


def explain_eperm(step: str) -> str:
    """The message for an EPERM the kernel gave a BPF step: names the missing
    capability when this process lacks one, else says none is missing."""
    eff = effective()
    lack = [c for c in ("CAP_BPF", "CAP_NET_ADMIN") if not has(c, eff)]
    if lack:
        return f"{step}: the kernel refused it, {' and '.join(lack)} missing"
    return f"{step}: the kernel refused it (EPERM) although CAP_BPF and CAP_NET_ADMIN are held " \
           "(a user namespace or an LSM?)"
