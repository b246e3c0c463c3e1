"""What the running kernel says about its kfuncs: which ones an XDP program
may call (asked of BPF_PROG_LOAD itself) and their BTF prototypes.

The kernel registers kfuncs per program type in id sets that its BTF does
not describe, so the allowed set is found the way a loader would find out:
load a three-instruction XDP program calling the kfunc by BTF id. The
verifier refuses a kfunc outside the XDP sets with "calling kernel function
NAME is not allowed" before it looks at any argument; every other outcome
(accepted, or refused over the unset arguments) means XDP may call it.
"""
from __future__ import annotations

import struct
from functools import lru_cache

from dataplane.io import kbpf
from dataplane.loader.vmlinux import vmlinux_btf

BPF_PSEUDO_KFUNC_CALL = 2
_INT_KINDS = ("INT", "ENUM", "ENUM64")


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, dst | src << 4, off, imm)


@lru_cache(maxsize=1)
def kernel_kfuncs() -> dict[str, int]:
    """name -> BTF FUNC id of every function the kernel's BTF tags bpf_kfunc."""
    btf = vmlinux_btf()
    return {btf[t.type].name: t.type for t in btf.types[1:] if t.kind == "DECL_TAG" and t.name == "bpf_kfunc"}


@lru_cache(maxsize=1)
def xdp_kfuncs() -> frozenset[str]:
    """The kfuncs the running kernel lets an XDP program call."""
    allowed = set()
    for name, tid in kernel_kfuncs().items():
        code = _insn(0x85, src=BPF_PSEUDO_KFUNC_CALL, imm=tid) + _insn(0xB7, imm=2) + _insn(0x95)
        try:
            kbpf.prog_load(code, log_level=1, name="kfprobe").close()
        except kbpf.KernelBpfError as e:
            if f"calling kernel function {name} is not allowed" in (e.log or ""):
                continue
        allowed.add(name)
    return frozenset(allowed)


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
