"""Ask BPF_PROG_LOAD whether a program type may call a kernel kfunc.

The kernel registers kfuncs per program type in id sets its BTF does not
describe, so the way to know is a loader's: load a three-instruction program
calling the kfunc by BTF id. The verifier refuses a kfunc outside the type's
sets with "calling kernel function NAME is not allowed" before it looks at an
argument; any other outcome (accepted, or refused over the unset arguments)
means the type may call it.
"""
from __future__ import annotations

import errno
import struct
from functools import lru_cache

from . import kbpf

BPF_PSEUDO_KFUNC_CALL = 2


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | src << 4, off, imm)


@lru_cache(maxsize=512)
def kfunc_allowed(name: str, btf_id: int, prog_type: int) -> bool | None:
    """True/False: the kernel lets ``prog_type`` call kfunc ``name`` (vmlinux
    BTF id ``btf_id``); None when the kernel cannot be asked (no privilege)."""
    code = _insn(0x85, src=BPF_PSEUDO_KFUNC_CALL, imm=btf_id) + _insn(0xB7, imm=0) + _insn(0x95)
    try:
        kbpf.prog_load(code, prog_type=prog_type, log_level=1, name="kfprobe").close()
    except kbpf.KernelBpfError as e:
        if f"calling kernel function {name} is not allowed" in (e.log or ""):
            return False
        if getattr(e, "errno", None) in (errno.EPERM, errno.EACCES) and not e.log:
            return None
    except PermissionError:
        return None
    return True
