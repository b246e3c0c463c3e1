"""The kernel's own bpf() syscall, through ctypes.

dataplane treats the running Linux kernel as its oracle: tests and benchmarks
load the same bytecode into the kernel, run it with BPF_PROG_TEST_RUN and
compare verdicts, packet bytes and map contents.  This module is that client.
It is deliberately thin — each function fills one ``union bpf_attr`` layout
from include/uapi/linux/bpf.h and returns what the kernel returned — and it
is never on a data path (one syscall per control operation).
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct
from dataclasses import dataclass
from functools import lru_cache

# enum bpf_cmd
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_MAP_GET_NEXT_KEY = 4
BPF_PROG_LOAD = 5
BPF_OBJ_PIN = 6
BPF_OBJ_GET = 7
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_FD_BY_ID = 13
BPF_MAP_GET_FD_BY_ID = 14
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_BTF_LOAD = 18
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21
BPF_MAP_FREEZE = 22

# enum bpf_prog_type (the ones dataplane runs)
from dataplane.abi.progs import BPF_PROG_TYPE_XDP  # noqa: E402

# BPF_PROG_TEST_RUN flags
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1   # frames really go out (XDP_TX/REDIRECT), as a traffic generator

from dataplane.loader.sysbpf import (_ATTR_SIZE, BPF_MAP_CREATE, KernelBpfError, _addr, _attr,  # noqa: E402,F401
                                     _libc, _sys_bpf, map_create)


def close(fd: int) -> None:
    os.close(fd)


@lru_cache(maxsize=1)
def num_possible_cpus() -> int:
    """Possible CPUs, as libbpf counts them: per-CPU map values come in this many slots."""
    with open("/sys/devices/system/cpu/possible") as f:
        spec = f.read().strip()
    n = 0
    for part in spec.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            n = max(n, int(hi) + 1)
        else:
            n = max(n, int(part) + 1)
    return n


# ---------------------------------------------------------------- maps

def _elem_attr(fd: int, key, value, flags: int) -> ctypes.Array:
    a = _attr()
    struct.pack_into("<IIQQQ", a, 0, fd, 0, _addr(key), _addr(value), flags)
    return a


def _buf(data: bytes | None):
    return None if data is None else ctypes.create_string_buffer(bytes(data), max(len(data), 1))


def _value_len(value_size: int, percpu: bool) -> int:
    # Per-CPU values travel through the syscall as one 8-byte-rounded slot per CPU.
    return ((value_size + 7) & ~7) * num_possible_cpus() if percpu else value_size


def map_update(fd: int, key: bytes | None, value: bytes, flags: int = 0) -> None:
    k, v = _buf(key), _buf(value)
    _sys_bpf(BPF_MAP_UPDATE_ELEM, _elem_attr(fd, k, v, flags), "BPF_MAP_UPDATE_ELEM")


def map_lookup(fd: int, key: bytes | None, value_size: int, *, percpu: bool = False, flags: int = 0,
               value: bytes | None = None) -> bytes:
    """``value``: what the value buffer holds going in (BLOOM_FILTER: the value to test)."""
    k = _buf(key)
    n = _value_len(value_size, percpu)
    v = ctypes.create_string_buffer(bytes(value or b"").ljust(max(n, 1), b"\0"), max(n, 1))
    _sys_bpf(BPF_MAP_LOOKUP_ELEM, _elem_attr(fd, k, v, flags), "BPF_MAP_LOOKUP_ELEM")
    return v.raw[:n]


def map_delete(fd: int, key: bytes | None) -> None:
    k = _buf(key)
    _sys_bpf(BPF_MAP_DELETE_ELEM, _elem_attr(fd, k, None, 0), "BPF_MAP_DELETE_ELEM")


def map_get_next_key(fd: int, key: bytes | None, key_size: int) -> bytes:
    k = _buf(key)
    nk = ctypes.create_string_buffer(max(key_size, 1))
    _sys_bpf(BPF_MAP_GET_NEXT_KEY, _elem_attr(fd, k, nk, 0), "BPF_MAP_GET_NEXT_KEY")
    return nk.raw[:key_size]


def map_lookup_and_delete(fd: int, key: bytes | None, value_size: int, flags: int = 0) -> bytes:
    """For QUEUE/STACK this is pop (key must be None)."""
    k = _buf(key)
    v = ctypes.create_string_buffer(max(value_size, 1))
    _sys_bpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, _elem_attr(fd, k, v, flags), "BPF_MAP_LOOKUP_AND_DELETE_ELEM")
    return v.raw[:value_size]


def map_freeze(fd: int) -> None:
    a = _attr()
    struct.pack_into("<I", a, 0, fd)
    _sys_bpf(BPF_MAP_FREEZE, a, "BPF_MAP_FREEZE")


def map_keys(fd: int, key_size: int) -> list[bytes]:
    keys, key = [], None
    while True:
        try:
            key = map_get_next_key(fd, key, key_size)
        except KernelBpfError as e:
            if e.errno == _errno.ENOENT:
                return keys
            raise
        keys.append(key)


# ---------------------------------------------------------------- programs

@dataclass
class LoadedProg:
    fd: int
    id: int
    log: str = ""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prog_load(insns: bytes, prog_type: int = BPF_PROG_TYPE_XDP, license: str = "GPL", *,
              log_level: int = 0, log_size: int = 1 << 22, name: str = "", prog_flags: int = 0,
              expected_attach_type: int = 0, btf_fd: int = 0, fd_array: list[int] | None = None,
              func_info: bytes = b"", func_info_rec_size: int = 0,
              line_info: bytes = b"", line_info_rec_size: int = 0) -> LoadedProg:
    """BPF_PROG_LOAD. On rejection raises KernelBpfError carrying the verifier log.

    When loading fails with log_level 0 the load is retried once with
    log_level 1 so the error always carries the verifier's reason, the way
    libbpf does it.
    """
    if len(insns) % 8:
        raise ValueError("instruction bytes must be a multiple of 8")
    code = ctypes.create_string_buffer(bytes(insns), max(len(insns), 8))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(log_size) if log_level else None
    fi = ctypes.create_string_buffer(func_info, len(func_info)) if func_info else None
    li = ctypes.create_string_buffer(line_info, len(line_info)) if line_info else None
    fds = (ctypes.c_int * len(fd_array))(*fd_array) if fd_array else None
    a = _attr()
    struct.pack_into("<IIQQIIQII", a, 0, prog_type, len(insns) // 8, _addr(code), _addr(lic),
                     log_level, log_size if log_level else 0, _addr(log), 0, prog_flags)
    a[48:64] = name.encode()[:15].ljust(16, b"\0")
    struct.pack_into("<III", a, 64, 0, expected_attach_type, btf_fd)
    if fi is not None:
        struct.pack_into("<IQI", a, 76, func_info_rec_size, _addr(fi), len(func_info) // func_info_rec_size)
    if li is not None:
        struct.pack_into("<IQI", a, 92, line_info_rec_size, _addr(li), len(line_info) // line_info_rec_size)
    if fds is not None:
        struct.pack_into("<Q", a, 120, _addr(fds))
    try:
        fd = _sys_bpf(BPF_PROG_LOAD, a, "BPF_PROG_LOAD")
    except KernelBpfError as e:
        if log is None:
            # Retry with a log so the error names the verifier's reason; the
            # retry raises with that log (it cannot succeed where this failed).
            prog_load(insns, prog_type, license, log_level=1, log_size=log_size, name=name,
                      prog_flags=prog_flags, expected_attach_type=expected_attach_type, btf_fd=btf_fd,
                      fd_array=fd_array, func_info=func_info, func_info_rec_size=func_info_rec_size,
                      line_info=line_info, line_info_rec_size=line_info_rec_size).close()
        raise KernelBpfError(e.errno, "BPF_PROG_LOAD",
                             log.value.decode(errors="replace") if log is not None else "") from None
    text = log.value.decode(errors="replace") if log is not None else ""
    return LoadedProg(fd, prog_info(fd)["id"], text)


def obj_get_info(fd: int, size: int = 256) -> bytes:
    info = ctypes.create_string_buffer(size)
    a = _attr()
    struct.pack_into("<IIQ", a, 0, fd, size, _addr(info))
    _sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a, "BPF_OBJ_GET_INFO_BY_FD")
    return info.raw


def prog_info(fd: int) -> dict:
    raw = obj_get_info(fd)
    ptype, pid = struct.unpack_from("<II", raw, 0)
    xlated_len, = struct.unpack_from("<I", raw, 20)
    name = raw[64:80].split(b"\0", 1)[0].decode()
    return {"type": ptype, "id": pid, "tag": raw[8:16].hex(), "xlated_prog_len": xlated_len, "name": name}


def prog_xlated(fd: int) -> bytes:
    """The program as the running kernel rewrote it (bpf_prog_info's
    xlated_prog_insns): what `bpftool prog dump xlated` prints."""
    n = prog_info(fd)["xlated_prog_len"]
    buf = ctypes.create_string_buffer(max(n, 8))
    info = ctypes.create_string_buffer(256)
    struct.pack_into("<IQ", info, 20, n, 0)
    struct.pack_into("<Q", info, 32, _addr(buf))
    a = _attr()
    struct.pack_into("<IIQ", a, 0, fd, 256, _addr(info))
    _sys_bpf(BPF_OBJ_GET_INFO_BY_FD, a, "BPF_OBJ_GET_INFO_BY_FD")
    return buf.raw[:n]


def map_get_fd_by_id(map_id: int) -> int:
    """BPF_MAP_GET_FD_BY_ID: a new fd for the map with this id (close it)."""
    a = _attr()
    struct.pack_into("<I", a, 0, map_id)
    return _sys_bpf(BPF_MAP_GET_FD_BY_ID, a, "BPF_MAP_GET_FD_BY_ID")


def map_info(fd: int) -> dict:
    raw = obj_get_info(fd)
    mtype, mid, ks, vs, me, flags = struct.unpack_from("<IIIIII", raw, 0)
    name = raw[24:40].split(b"\0", 1)[0].decode()
    return {"type": mtype, "id": mid, "key_size": ks, "value_size": vs, "max_entries": me,
            "map_flags": flags, "name": name}


@dataclass
class TestRunResult:
    retval: int
    data_out: bytes
    duration_ns: int
    ctx_out: bytes = b""


def prog_test_run(fd: int, data: bytes, *, repeat: int = 1, ctx: bytes | None = None,
                  out_room: int = 4096, flags: int = 0, cpu: int = 0, batch_size: int = 0) -> TestRunResult:
    """BPF_PROG_TEST_RUN: the kernel runs the program on ``data``.

    ``duration_ns`` is the kernel's average per run over ``repeat`` runs.
    """
    din = ctypes.create_string_buffer(bytes(data), max(len(data), 1))
    # live frames (the packets are really sent or dropped): the kernel takes
    # no output buffers
    live = bool(flags & BPF_F_TEST_XDP_LIVE_FRAMES)
    out_size = 0 if live else len(data) + out_room
    dout = None if live else ctypes.create_string_buffer(out_size)
    cin = ctypes.create_string_buffer(bytes(ctx), len(ctx)) if ctx else None
    cout = ctypes.create_string_buffer(len(ctx)) if ctx and not live else None
    a = _attr()
    struct.pack_into("<IIIIQQII", a, 0, fd, 0, len(data), out_size, _addr(din), _addr(dout), repeat, 0)
    struct.pack_into("<IIQQIII", a, 40, len(ctx) if ctx else 0, len(ctx) if cout is not None else 0,
                     _addr(cin), _addr(cout), flags, cpu, batch_size)
    _sys_bpf(BPF_PROG_TEST_RUN, a, "BPF_PROG_TEST_RUN")
    retval, _, size_out = struct.unpack_from("<III", a, 4)
    duration, = struct.unpack_from("<I", a, 36)
    return TestRunResult(retval, dout.raw[:size_out] if dout is not None else b"", duration,
                         cout.raw if cout is not None else b"")


def prog_test_run_live(fd: int, data: bytes, ctx: bytes, *, repeat: int = 1, batch_size: int = 0) -> int:
    """BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: ``repeat`` copies of
    ``data`` go through the XDP program and on as real frames (XDP_PASS into
    the stack of ``ctx``'s ingress device, XDP_TX/REDIRECT out); the kernel
    takes no output buffers in this mode.  Returns the kernel's duration_ns."""
    din = ctypes.create_string_buffer(bytes(data), max(len(data), 1))
    cin = ctypes.create_string_buffer(bytes(ctx), len(ctx))
    a = _attr()
    struct.pack_into("<IIIIQQII", a, 0, fd, 0, len(data), 0, _addr(din), 0, repeat, 0)
    struct.pack_into("<IIQQIII", a, 40, len(ctx), 0, _addr(cin), 0, BPF_F_TEST_XDP_LIVE_FRAMES, 0, batch_size)
    _sys_bpf(BPF_PROG_TEST_RUN, a, "BPF_PROG_TEST_RUN (live frames)")
    return struct.unpack_from("<I", a, 36)[0]


# ---------------------------------------------------------------- BTF and pinning

def btf_load(data: bytes, *, log_level: int = 1, log_size: int = 1 << 20) -> int:
    b = ctypes.create_string_buffer(bytes(data), len(data))
    log = ctypes.create_string_buffer(log_size) if log_level else None
    a = _attr()
    struct.pack_into("<QQIII", a, 0, _addr(b), _addr(log), len(data), log_size if log_level else 0, log_level)
    try:
        return _sys_bpf(BPF_BTF_LOAD, a, "BPF_BTF_LOAD")
    except KernelBpfError as e:
        raise KernelBpfError(e.errno, "BPF_BTF_LOAD", log.value.decode(errors="replace") if log else "") from None


def obj_pin(fd: int, path: str) -> None:
    p = ctypes.create_string_buffer(path.encode())
    a = _attr()
    struct.pack_into("<QI", a, 0, _addr(p), fd)
    _sys_bpf(BPF_OBJ_PIN, a, f"BPF_OBJ_PIN {path}")


def obj_get(path: str) -> int:
    """BPF_OBJ_GET: a new fd of the object pinned at ``path``."""
    p = ctypes.create_string_buffer(path.encode())
    a = _attr()
    struct.pack_into("<Q", a, 0, _addr(p))
    return _sys_bpf(BPF_OBJ_GET, a, f"BPF_OBJ_GET {path}")


def prog_get_fd_by_id(prog_id: int) -> int:
    """BPF_PROG_GET_FD_BY_ID: a new fd of a loaded program (needs CAP_SYS_ADMIN)."""
    a = _attr()
    struct.pack_into("<I", a, 0, prog_id)
    return _sys_bpf(BPF_PROG_GET_FD_BY_ID, a, f"BPF_PROG_GET_FD_BY_ID {prog_id}")
