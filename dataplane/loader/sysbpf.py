"""The bpf(2) system call itself, through ctypes: one attr buffer in, the
kernel's return value out, a refusal raised as KernelBpfError with the
verifier log.  It sits in the loader layer because the loader asks the
running kernel questions too (what it exports, how it behaves:
loader/kernel_probe.py); everything else about bpf() -- one function per
command -- is dataplane.io.kbpf, which builds on this.
"""
from __future__ import annotations

import ctypes
import os
import struct

BPF_MAP_CREATE = 0   # enum bpf_cmd (the rest: dataplane.io.kbpf)

_SYS_BPF = 321  # x86_64; the project targets x86_64 Linux

_ATTR_SIZE = 160  # larger than every layout used here; the kernel accepts zeroed tails

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class KernelBpfError(OSError):
    """A bpf() call the kernel refused; ``log`` holds the verifier log if any."""

    def __init__(self, err: int, what: str, log: str = ""):
        super().__init__(err, f"{what}: {os.strerror(err)}" + (f"\n{log}" if log else ""))
        self.log = log


def _addr(buf) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def _sys_bpf(cmd: int, attr: ctypes.Array, what: str, log: str | None = None) -> int:
    ret = _libc.syscall(_SYS_BPF, cmd, attr, _ATTR_SIZE)
    if ret < 0:
        err = ctypes.get_errno()
        raise KernelBpfError(err, what, log or "")
    return ret


def _attr() -> ctypes.Array:
    return ctypes.create_string_buffer(_ATTR_SIZE)


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, flags: int = 0,
               name: str = "", *, inner_map_fd: int = 0, map_extra: int = 0, btf_fd: int = 0,
               btf_key_type_id: int = 0, btf_value_type_id: int = 0) -> int:
    a = _attr()
    struct.pack_into("<IIIIII", a, 0, map_type, key_size, value_size, max_entries, flags, inner_map_fd)
    a[28:28 + 16] = name.encode()[:15].ljust(16, b"\0")
    struct.pack_into("<III", a, 48, btf_fd, btf_key_type_id, btf_value_type_id)
    struct.pack_into("<Q", a, 64, map_extra)
    return _sys_bpf(BPF_MAP_CREATE, a, "BPF_MAP_CREATE")
