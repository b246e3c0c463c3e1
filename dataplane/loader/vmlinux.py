"""The running kernel's own BTF (/sys/kernel/btf/vmlinux): what it exports.

Read once per process, lazily: CO-RE against the kernel and kfunc BTF ids
for the kernel oracle (dataplane.io.kload), and the answer to "does the
kernel have this kfunc at all?" for messages that tell a kernel refusal
from something dataplane lacks.
"""
from __future__ import annotations

import struct
from functools import lru_cache

from dataplane.errors import LoadError

from .btf import BTF_MAGIC, KIND, parse_btf

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


@lru_cache(maxsize=1)
def vmlinux_btf():
    try:
        with open(VMLINUX_BTF, "rb") as f:
            return parse_btf(f.read())
    except OSError as e:
        raise LoadError(f"{VMLINUX_BTF}: {e.strerror} (kfuncs need the kernel's BTF)", kind=e.errno) from e


# Bytes that follow a type's 12-byte head, by kind: (fixed, per vlen member).
_TAIL = {KIND["INT"]: (4, 0), KIND["ARRAY"]: (12, 0), KIND["STRUCT"]: (0, 12), KIND["UNION"]: (0, 12),
         KIND["ENUM"]: (0, 8), KIND["FUNC_PROTO"]: (0, 8), KIND["VAR"]: (4, 0), KIND["DATASEC"]: (0, 12),
         KIND["DECL_TAG"]: (4, 0), KIND["ENUM64"]: (0, 12)}
_MAX_TYPES = 1 << 22            # vmlinux has ~150k; a bound for a corrupt file


@lru_cache(maxsize=1)
def func_ids() -> dict[str, int]:
    """FUNC name -> BTF id in the kernel's BTF, by one scan of the type
    records (~0.1 s) instead of a full parse (seconds): what a kfunc call
    needs, and all ``dataplane --version`` asks."""
    try:
        with open(VMLINUX_BTF, "rb") as f:
            data = f.read()
    except OSError as e:
        raise LoadError(f"{VMLINUX_BTF}: {e.strerror} (kfuncs need the kernel's BTF)", kind=e.errno) from e
    if len(data) < 24 or struct.unpack_from("<H", data)[0] != BTF_MAGIC:
        raise LoadError(f"{VMLINUX_BTF}: not BTF")
    hdr_len = struct.unpack_from("<I", data, 4)[0]
    type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
    t0, s0 = hdr_len + type_off, hdr_len + str_off
    end = min(t0 + type_len, len(data))
    want = KIND["FUNC"]
    out: dict[str, int] = {}
    pos, tid = t0, 1
    while pos + 12 <= end and tid < _MAX_TYPES:
        name_off, info = struct.unpack_from("<II", data, pos)
        kind = (info >> 24) & 0x1F
        if kind == want and name_off < str_len:
            stop = data.find(b"\0", s0 + name_off, s0 + str_len)
            out.setdefault(data[s0 + name_off:stop].decode(errors="replace"), tid)   # the first, as libbpf finds it
        fixed, each = _TAIL.get(kind, (0, 0))
        pos += 12 + fixed + each * (info & 0xFFFF)
        tid += 1
    return out


def kernel_has_func(name: str) -> bool | None:
    """Does the running kernel's BTF have FUNC ``name``? None when there is
    no kernel BTF to ask."""
    try:
        return name in func_ids()
    except LoadError:
        return None


def kfunc_unavailable(name: str) -> str:
    """The message for a kfunc dataplane does not provide: the kernel's
    (libbpf's) words when the kernel does not have it either, else one that
    says the gap is dataplane's."""
    from dataplane.abi.kfuncs import DEV_BOUND_KFUNCS, DEV_BOUND_MSG
    if name in DEV_BOUND_KFUNCS:      # the kernel's refusal too (add_kfunc_call)
        return DEV_BOUND_MSG
    has = kernel_has_func(name)
    if has is False:
        return f"extern (func ksym) '{name}': not found in kernel or module BTFs"
    where = "the running kernel exports it" if has else "no kernel BTF to check"
    return f"kfunc {name} is not implemented by dataplane ({where}; dataplane lacks it)"
