"""The kernel side of an AF_XDP hook: an XDP program that redirects each RX
queue's packets to the dataplane's socket for that queue.

It is the kernel's (and libxdp's) default AF_XDP program, written as
bytecode with the project's own encoder -- no clang at run time -- and
loaded with the project's own kernel loader (kload), so it passes the
running kernel's verifier like any user program (the tests also run it
through dataplane's verifier)::

    r2 = *(u32 *)(r1 + 16)          ; ctx->rx_queue_index
    r1 = map[xsks]                  ; BPF_MAP_TYPE_XSKMAP, key = queue, value = socket fd
    r3 = XDP_PASS                   ; no socket for this queue: the kernel stack gets it
    call bpf_redirect_map
    exit

The program's name (``dpxsk_<pid>``) marks its owner, so a service that
restarts after ``kill -9`` can find and remove what its predecessor left
(netlink.cleanup_stale).
"""
from __future__ import annotations

import errno
import struct

from dataplane.abi import maps as M
from dataplane.abi.helpers import HELPER_IDS
from dataplane.abi.pseudo import BPF_PSEUDO_MAP_FD
from dataplane.abi.ctx import XDP_MD
from dataplane.abi.progs import BPF_PROG_TYPE_XDP
from dataplane.abi.xdp import XDP_PASS
from dataplane.errors import DataplaneError
from dataplane.isa import opcodes as op
from dataplane.isa.instruction import Instruction, encode
from dataplane.loader import spec as S

from . import caps, kbpf, netlink
from .kload import KernelObject

MAP_NAME = "xsks"
_XDP_MD_RX_QUEUE_INDEX = next(f.off for f in XDP_MD if f.name == "rx_queue_index")


def insns() -> bytes:
    return encode([
        Instruction(op.BPF_LDX | op.BPF_MEM | op.BPF_W, dst=2, src=1, off=_XDP_MD_RX_QUEUE_INDEX),
        Instruction(op.OP_LDDW, dst=1, src=BPF_PSEUDO_MAP_FD, imm=0),
        Instruction(op.BPF_ALU64 | op.BPF_MOV | op.BPF_K, dst=3, imm=XDP_PASS),
        Instruction(op.BPF_JMP | op.BPF_CALL, imm=HELPER_IDS["bpf_redirect_map"]),
        Instruction(op.BPF_JMP | op.BPF_EXIT),
    ])


def object_spec(max_queues: int, name: str | None = None) -> S.ObjectSpec:
    """The program and its XSKMAP (``max_queues`` slots) as an ObjectSpec."""
    prog_name = name or netlink.owner_name()
    xsks = S.MapSpec(MAP_NAME, M.BPF_MAP_TYPE_XSKMAP, 4, 4, max(1, max_queues), section=".maps")
    prog = S.ProgramSpec(prog_name, "xdp", BPF_PROG_TYPE_XDP, None, insns(),
                         relocations=[S.Relocation(1, S.MAP_FD, MAP_NAME, MAP_NAME)], license="GPL",
                         sec_insn_cnt=6)
    return S.ObjectSpec("xsk_redirect", {prog_name: prog}, {MAP_NAME: xsks}, license="GPL")


class RedirectProgram:
    """The redirect program loaded in the kernel for one interface."""

    def __init__(self, max_queues: int):
        self.spec = object_spec(max_queues)
        try:
            self.obj = KernelObject.load(self.spec)
        except DataplaneError as e:
            if e.kind == errno.EPERM:
                raise DataplaneError(caps.explain_eperm("loading the AF_XDP redirect program")
                                     + "; io: afpacket needs neither", kind=errno.EPERM) from None
            raise
        self.name = next(iter(self.spec.programs))

    @property
    def fd(self) -> int:
        return self.obj.progs[self.name].fd

    @property
    def id(self) -> int:
        return self.obj.progs[self.name].id

    def set_socket(self, queue: int, sock_fd: int) -> None:
        kbpf.map_update(self.obj.maps[MAP_NAME], struct.pack("<I", queue), struct.pack("<I", sock_fd))

    def clear_socket(self, queue: int) -> None:
        try:
            kbpf.map_delete(self.obj.maps[MAP_NAME], struct.pack("<I", queue))
        except OSError:
            pass

    def close(self) -> None:
        self.obj.close()
