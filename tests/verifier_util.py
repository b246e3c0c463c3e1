"""Shared helpers for verifier tests: assemble corpus programs, create the
kernel maps they use, and run both the kernel's and dataplane's verifier."""
from __future__ import annotations

import os
import re

from dataplane.errors import VerifierError
from dataplane.io import kbpf
from dataplane.isa.asm import assemble_insns
from dataplane.isa.instruction import Instruction, encode
from dataplane.verifier import MapInfo, verify

PROG_TYPES = {"xdp": kbpf.BPF_PROG_TYPE_XDP, "socket": kbpf.BPF_PROG_TYPE_SOCKET_FILTER,
              "tc": kbpf.BPF_PROG_TYPE_SCHED_CLS}
_MAGIC_MAP = 0xD00D0000
_MAGIC_FUNC = 0xF00D0000
_LDMAP = re.compile(r"^\s*ldmap\s+%r(\d+),\s*(\w+)\s*$", re.M)
_LDFUNC = re.compile(r"^\s*ldfunc\s+%r(\d+),\s*\+?(-?\d+)\s*$", re.M)


def assemble(asm: str, fds: dict[str, int]) -> list[Instruction]:
    names = list(fds)

    def mapline(m):
        return f"lddw %r{m.group(1)}, {(_MAGIC_MAP << 32) | names.index(m.group(2))}"

    def funcline(m):
        return f"lddw %r{m.group(1)}, {(_MAGIC_FUNC << 32) | (int(m.group(2)) & 0xFFFFFFFF)}"
    text = _LDFUNC.sub(funcline, _LDMAP.sub(mapline, asm))
    out = []
    for insn in assemble_insns(text):
        if insn.is_lddw and insn.imm >> 32 == _MAGIC_MAP:
            insn = Instruction(0x18, dst=insn.dst, src=1, imm=fds[names[insn.imm & 0xFFFF]])
        elif insn.is_lddw and insn.imm >> 32 == _MAGIC_FUNC:
            insn = Instruction(0x18, dst=insn.dst, src=4, imm=insn.imm & 0xFFFFFFFF)
        out.append(insn)
    return out


class Maps:
    """Real kernel maps for a program; fds double as dataplane map keys."""

    def __init__(self, specs: dict):
        self.fds: dict[str, int] = {}
        self.infos: dict[int, MapInfo] = {}
        for name, (mtype, ks, vs, me) in specs.items():
            fd = kbpf.map_create(mtype, ks, vs, me, name=name)
            self.fds[name] = fd
            self.infos[fd] = MapInfo(mtype, ks, vs, me, 0, name)

    def close(self):
        for fd in self.fds.values():
            os.close(fd)


def kernel_verdict(insns, prog_type: str, license: str = "GPL"):
    """(accepted, error line, full log) from the running kernel."""
    try:
        p = kbpf.prog_load(encode(insns), PROG_TYPES[prog_type], license, log_level=1)
        p.close()
        return True, "", p.log
    except kbpf.KernelBpfError as e:
        # the state dumps after "infinite loop detected" are not the error line
        lines = [ln for ln in e.log.strip().split("\n")
                 if ln and not ln.startswith(("processed ", "cur state:", "old state:"))]
        return False, (lines[-1] if lines else str(e)), e.log


def dataplane_verdict(insns, prog_type: str, maps: dict, license: str = "GPL", **kw):
    try:
        v = verify(insns, prog_type=prog_type, maps=maps, license=license, **kw)
        return True, "", v
    except VerifierError as e:
        return False, e.summary, e
