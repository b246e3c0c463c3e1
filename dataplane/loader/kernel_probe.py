"""How the running kernel behaves where builds of one release differ.

Two kernels that both say 6.18.44 were seen to verify the same object
differently (a hardened build refuses bpf_dynptr_slice_rdwr; one types a
map-in-map lookup map_ptr_or_null before its NULL check, the other
map_value_or_null).  The kernel is the oracle, so the verifier follows the
one it runs on: each difference is asked of the kernel once per process
with a minimal program (a BPF_PROG_LOAD, ~1 ms, and only when a program
needs the answer) and the answer handed to the verifier as an
:class:`~dataplane.abi.kernel.Behaviour`.  Where the kernel cannot be asked
(no CAP_BPF, no BTF, another machine), the modelled release's behaviour
stands and ``Behaviour.probed`` says so.
"""
from __future__ import annotations

import ctypes
import os
import re
import struct
import threading
from dataclasses import replace

from dataplane.abi.kernel import MODELLED_BEHAVIOUR, Behaviour
from dataplane.abi.maps import BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS
from dataplane.abi.progs import BPF_PROG_TYPE_XDP

from .sysbpf import KernelBpfError, _addr, _attr, _sys_bpf, map_create

_BPF_PROG_LOAD = 5
_LOG_SIZE = 1 << 16
_lock = threading.Lock()
_answers: dict[str, object] = {}       # question -> the kernel's answer (None: could not ask)


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _load(insns: bytes, prog_type: int = BPF_PROG_TYPE_XDP) -> tuple[bool, str]:
    """BPF_PROG_LOAD with a log: (accepted, log). KernelBpfError when the kernel
    refused for a reason that is not the verifier's (no log)."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(_LOG_SIZE)
    a = _attr()
    struct.pack_into("<IIQQIIQ", a, 0, prog_type, len(insns) // 8, _addr(code), _addr(lic), 1, _LOG_SIZE,
                     _addr(log))
    try:
        os.close(_sys_bpf(_BPF_PROG_LOAD, a, "BPF_PROG_LOAD"))
        return True, ""
    except KernelBpfError as e:
        text = log.value.decode(errors="replace")
        if not text:
            raise
        return False, text


def _ask(question: str, probe):
    with _lock:
        if question not in _answers:
            try:
                _answers[question] = probe()
            except (OSError, LookupError):     # no privilege, no BTF, no such kfunc: not answerable here
                _answers[question] = None
        return _answers[question]


# ---------------------------------------------------------------- the questions
def _inner_map_lookup() -> str | None:
    """Pass a map-in-map lookup's unchecked result to another lookup: the
    kernel's refusal names the type it gave the register."""
    inner = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 1)
    try:
        outer = map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 1, inner_map_fd=inner)
    finally:
        os.close(inner)
    try:
        prog = b"".join((
            _insn(0xb7, 1),                       # r1 = 0
            _insn(0x63, 10, 1, -4),               # *(u32 *)(r10 - 4) = r1
            _insn(0xbf, 2, 10), _insn(0x07, 2, imm=-4),
            _insn(0x18, 1, 1, imm=outer), _insn(0),   # r1 = outer (BPF_PSEUDO_MAP_FD)
            _insn(0x85, imm=1),                   # call bpf_map_lookup_elem
            _insn(0xbf, 1, 0),                    # r1 = r0, unchecked
            _insn(0xbf, 2, 10), _insn(0x07, 2, imm=-4),
            _insn(0x85, imm=1),
            _insn(0xb7, 0, imm=2), _insn(0x95),
        ))
        ok, log = _load(prog)
    finally:
        os.close(outer)
    m = re.search(r"R1 type=(\w+) expected=map_ptr", log)
    return None if ok or m is None else m.group(1)


def _kfunc_id(name: str) -> int:
    from .vmlinux import func_ids
    tid = func_ids().get(name)
    if tid is None:
        raise LookupError(name)
    return tid


def _slice_rdwr_refused() -> bool | None:
    """bpf_dynptr_from_xdp then bpf_dynptr_slice_rdwr with valid arguments."""
    kcall = lambda name: _insn(0x85, src=2, imm=_kfunc_id(name))     # BPF_PSEUDO_KFUNC_CALL
    prog = b"".join((
        _insn(0xbf, 6, 1),
        _insn(0xbf, 1, 6), _insn(0xb7, 2), _insn(0xbf, 3, 10), _insn(0x07, 3, imm=-16),
        kcall("bpf_dynptr_from_xdp"),
        _insn(0xbf, 1, 10), _insn(0x07, 1, imm=-16), _insn(0xb7, 2), _insn(0xb7, 3), _insn(0xb7, 4, imm=4),
        kcall("bpf_dynptr_slice_rdwr"),
        _insn(0xb7, 0, imm=2), _insn(0x95),
    ))
    ok, log = _load(prog)
    if ok:
        return False
    return True if "bpf_dynptr_slice_rdwr() is not allowed" in log else None


# kfunc -> the probe that tells whether this kernel refuses it
_KFUNC_REFUSALS = {"bpf_dynptr_slice_rdwr": _slice_rdwr_refused}


def _helper_refused(prog_type: int, hid: int) -> bool:
    """A call of helper ``hid`` with no arguments set up: the kernel looks
    the helper up for the program type before it checks any argument, so
    "cannot use helper" in the log is the answer (any other outcome: allowed)."""
    ok, log = _load(b"".join((_insn(0x85, imm=hid), _insn(0xb7, 0), _insn(0x95))), prog_type)
    return not ok and "cannot use helper" in log


def _call_ids(insns: bytes):
    """Helper ids of the program's BPF_CALL instructions (src 0)."""
    for off in range(0, len(insns) - 7, 8):
        if insns[off] == 0x85 and insns[off + 1] >> 4 == 0:
            yield struct.unpack_from("<i", insns, off + 4)[0]


def behaviour(kfuncs=(), map_in_map: bool = False, helpers=()) -> Behaviour:
    """The running kernel's Behaviour for a program calling ``kfuncs`` (names)
    and ``helpers`` ((verifier program type, helper id) pairs) and, with
    ``map_in_map``, looking up a map of maps; only those questions are asked
    (each once per process), and a helper only when the modelled release
    allows it for that type (abi/helper_progtypes.py)."""
    from dataplane.abi.helper_progtypes import kernel_allows
    from dataplane.abi.progs import VERIFIER_CTX
    b = MODELLED_BEHAVIOUR
    asked = answered = 0
    refused = set()
    refused_h = set()
    type_num = {v: k for k, v in VERIFIER_CTX.items()}
    for ptype, hid in set(helpers):
        if ptype not in type_num or not kernel_allows(ptype, hid):
            continue
        asked += 1
        ans = _ask(f"helper:{ptype}:{hid}", lambda: _helper_refused(type_num[ptype], hid))
        if ans is not None:
            answered += 1
            if ans:
                refused_h.add((ptype, hid))
    for name in kfuncs:
        probe = _KFUNC_REFUSALS.get(name)
        if probe is None:
            continue
        asked += 1
        ans = _ask("refuses:" + name, probe)
        if ans is not None:
            answered += 1
            if ans:
                refused.add(name)
    if map_in_map:
        asked += 1
        ans = _ask("inner_map_lookup", _inner_map_lookup)
        if ans is not None:
            answered += 1
            b = replace(b, inner_map_lookup=ans)
    return replace(b, refused_kfuncs=frozenset(refused), refused_helpers=frozenset(refused_h),
                   probed=bool(asked) and answered == asked)


def behaviour_for(spec, ps, prog_type: str | None = None) -> Behaviour:
    """behaviour() for ProgramSpec ``ps`` of ObjectSpec ``spec`` (as a
    ``prog_type`` program when given: a forced type)."""
    from dataplane.abi.progs import VERIFIER_CTX
    kf = {r.symbol for r in ps.relocations if r.kind == "kfunc"}
    mim = any(m.map_type in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS) for m in spec.maps.values())
    ptype = prog_type or VERIFIER_CTX.get(ps.prog_type)
    helpers = [(ptype, h) for h in set(_call_ids(ps.insns))] if ptype else []
    return behaviour(kf, mim, helpers)


def everything() -> Behaviour:
    """Every question asked (for ``dataplane --version`` and Service.Info):
    the kfuncs, map-in-map, and each helper the modelled release allows in
    XDP programs (~110 loads, once per process)."""
    from dataplane.abi.helper_progtypes import KERNEL_HELPERS
    return behaviour(_KFUNC_REFUSALS, True, [("xdp", h) for h in sorted(KERNEL_HELPERS["xdp"])])
