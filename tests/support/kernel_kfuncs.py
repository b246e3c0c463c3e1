"""What the running kernel says about its kfuncs: which ones an XDP program
may call (asked of BPF_PROG_LOAD itself) and their BTF prototypes.

The kernel registers kfuncs per program type in id sets that its BTF does
not describe; dataplane.io.kfunc_probe asks BPF_PROG_LOAD, as a loader
would (and as `verify --kernel-layout` does for the kfuncs a program calls).
"""
from __future__ import annotations

from functools import lru_cache

from dataplane.io.kfunc_probe import kfunc_allowed
from dataplane.loader.kernel_kfuncs import kernel_kfunc_ids as kernel_kfuncs
from dataplane.loader.vmlinux import vmlinux_btf

BPF_PROG_TYPE_XDP = 6
_INT_KINDS = ("INT", "ENUM", "ENUM64")


@lru_cache(maxsize=1)
def xdp_kfuncs() -> frozenset[str]:
    """The kfuncs the running kernel lets an XDP program call (asked of
    BPF_PROG_LOAD, dataplane.io.kfunc_probe)."""
    return frozenset(n for n, tid in kernel_kfuncs().items() if kfunc_allowed(n, tid, BPF_PROG_TYPE_XDP) is not False)


def signature(name: str) -> tuple[list[tuple[str, str]], tuple[str, str]]:
    """The kfunc's BTF prototype as (kind, struct name) per parameter and for
    the return: kind "int" (integer/enum), "ptr" (struct name of the pointee,
    "" for void/scalars) or "void"."""
    btf = vmlinux_btf()
    proto = btf[btf[kernel_kfuncs()[name]].type]

    def one(tid: int) -> tuple[str, str]:
        if tid == 0:
            return ("void", "")
        t = btf.skip_modifiers(tid)
        if t.kind in _INT_KINDS:
            return ("int", "")
        if t.kind == "PTR":
            target = btf.skip_modifiers(t.type) if t.type else None
            return ("ptr", target.name if target is not None and target.kind in ("STRUCT", "UNION") else "")
        return (t.kind.lower(), t.name)
    return [one(p.type) for p in proto.members], one(proto.type)
