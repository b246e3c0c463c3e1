"""dataplane.abi.helper_progtypes against the running kernel: for every
helper id and the program types dataplane runs, load a program that calls
it and see whether the kernel says "program of this type cannot use
helper" (the table says forbidden) or gets further (allowed).  Every
difference is named, with the kernel release that gave it."""
from __future__ import annotations

import os
import struct

from dataplane.abi.helper_progtypes import KERNEL_HELPERS, unavailable_reason
from dataplane.abi.helpers import HELPER_NAMES
from dataplane.io import kbpf
from dataplane.abi.progs import BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_XDP

TYPES = {"xdp": BPF_PROG_TYPE_XDP, "socket": BPF_PROG_TYPE_SOCKET_FILTER,
         "tc": BPF_PROG_TYPE_SCHED_CLS}


def _insn(op, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", op, dst | (src << 4), off, imm)


def _allowed(ptype: int, hid: int) -> bool:
    code = b"".join(_insn(0xb7, r) for r in range(1, 6)) + _insn(0x85, imm=hid) + _insn(0xb7) + _insn(0x95)
    try:
        kbpf.prog_load(code, ptype, "GPL", log_level=1, log_size=1 << 14).close()
        return True
    except kbpf.KernelBpfError as e:
        return "cannot use helper" not in e.log and "unknown func" not in e.log


def test_table_matches_running_kernel(root_required):
    """The table is the modelled release's. A helper it allows and this
    kernel build refuses is a build difference, not a table error, when
    dataplane follows the build (kernel_probe): then a program calling it
    must be refused by dataplane's verifier with the kernel's words."""
    from dataplane.errors import VerifierError
    from dataplane.loader import kernel_probe
    from dataplane.verifier import verify
    from dataplane.isa.instruction import decode
    diffs, build = [], []
    for name, ptype in TYPES.items():
        live = {h for h in HELPER_NAMES if h and _allowed(ptype, h)}
        for h in sorted(live ^ KERNEL_HELPERS[name]):
            if h in KERNEL_HELPERS[name] and kernel_probe.behaviour(helpers=[(name, h)]).refuses_helper(name, h):
                build.append((name, h))
                continue
            diffs.append(f"{name}: {HELPER_NAMES[h]}#{h} {'allowed' if h in live else 'refused'} by the kernel, "
                         f"table says {'allowed' if h in KERNEL_HELPERS[name] else 'refused'}")
    assert not diffs, f"kernel {os.uname().release}:\n" + "\n".join(diffs)
    for name, h in build:
        code = b"".join(_insn(0xb7, r) for r in range(1, 6)) + _insn(0x85, imm=h) + _insn(0xb7) + _insn(0x95)
        try:
            verify(decode(code), prog_type=name, kernel=kernel_probe.behaviour(helpers=[(name, h)]))
            raise AssertionError(f"{name}: dataplane accepts {HELPER_NAMES[h]}#{h}, which this kernel build refuses")
        except VerifierError as e:
            assert f"program of this type cannot use helper {HELPER_NAMES[h]}#{h}" in str(e), str(e)


def test_messages():
    assert unavailable_reason("xdp", 18) == "program of this type cannot use helper bpf_skb_vlan_push#18"
    assert unavailable_reason("tc", 18).startswith("helper bpf_skb_vlan_push#18 is not implemented by dataplane")
    assert unavailable_reason("xdp", 999) == "invalid func unknown#999"
