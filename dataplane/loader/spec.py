"""Specs: pure data describing what an ELF object asks for (cilium/ebpf style).

Nothing here touches the kernel or allocates maps.  A later step creates maps
from :class:`MapSpec`, patches each :class:`Relocation` into the program's
instructions, and loads/verifies the :class:`ProgramSpec`.

Instruction placeholders left by the loader (libbpf conventions):
  * ``map_fd``    lddw: insn[0].src_reg = 1 (BPF_PSEUDO_MAP_FD),    insn[0].imm = 0 -> map fd/handle
  * ``map_value`` lddw: insn[0].src_reg = 2 (BPF_PSEUDO_MAP_VALUE), insn[0].imm = 0 -> map fd/handle,
                  insn[1].imm = offset into the value (already filled in)
  * ``call``      bpf-to-bpf call: src_reg = 1, imm already fixed up (relative to the appended callee)
  * ``func_addr`` lddw of a subprogram (callbacks): src_reg = 4, imm already fixed up
  * ``kfunc``     call: src_reg = 2 (BPF_PSEUDO_KFUNC_CALL), imm = 0 -> kfunc id from a registry
  * ``ksym``/``kconfig`` lddw of an extern variable: untouched, resolved later
CO-RE records are kept apart in ``ProgramSpec.core_relos`` (not applied).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from .btf import Btf, CoreRelo, FuncInfo, LineInfo

INSN_SIZE = 8

# Relocation kinds
MAP_FD = "map_fd"
MAP_VALUE = "map_value"
CALL = "call"
FUNC_ADDR = "func_addr"
KFUNC = "kfunc"
KSYM = "ksym"
KCONFIG = "kconfig"


@dataclass(frozen=True)
class Relocation:
    insn_index: int          # index (8-byte slots) in ProgramSpec.insns
    kind: str                # one of the kinds above
    symbol: str              # ELF symbol the relocation named (section name for section symbols)
    map_name: str | None = None   # map_fd / map_value: key into ObjectSpec.maps
    offset: int = 0          # map_value: byte offset in the value; call/func_addr: callee insn index


@dataclass
class MapSpec:
    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    pinning: int = 0                      # 0 none, 1 LIBBPF_PIN_BY_NAME
    numa_node: int = 0
    map_extra: int = 0
    inner: "MapSpec | None" = None        # map-in-map: template of the inner map
    contents: bytes | None = None         # global data: initial value of element 0
    init_values: dict[int, str] = field(default_factory=dict)  # prog/map arrays: slot -> program/map name
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    frozen: bool = False                  # .rodata: freeze after initialising (BPF_MAP_FREEZE)
    readonly: bool = False                # program may not write (BPF_F_RDONLY_PROG)
    section: str = ""                     # ELF section it came from (.maps, maps, .data, ...)
    internal: bool = False                # global-data map created by the loader
    sec_offset: int = 0                   # offset of the definition in its section


@dataclass
class ProgramSpec:
    name: str
    section: str
    prog_type: int                        # enum bpf_prog_type value
    attach_type: int | None               # enum bpf_attach_type (expected_attach_type), None if unset
    insns: bytes                          # own code + appended subprograms, 8 bytes per slot
    relocations: list[Relocation] = field(default_factory=list)
    func_info: list[FuncInfo] = field(default_factory=list)   # insn_off in slots of ``insns``
    line_info: list[LineInfo] = field(default_factory=list)
    core_relos: list[CoreRelo] = field(default_factory=list)
    license: str = ""
    kernel_version: int = 0
    prog_flags: int = 0                   # e.g. BPF_F_XDP_HAS_FRAGS for xdp.frags
    attach_to: str = ""                   # section suffix (tracepoint name, kprobe fn, ...)
    sec_insn_off: int = 0                 # where the program starts in its section
    sec_insn_cnt: int = 0                 # its own length (before appending subprograms)
    subprograms: list[tuple[str, int]] = field(default_factory=list)  # (name, start slot) appended

    @property
    def insn_count(self) -> int:
        return len(self.insns) // INSN_SIZE

    def insn(self, i: int) -> tuple[int, int, int, int, int]:
        """(opcode, dst, src, off, imm) of slot i."""
        code, regs, off, imm = struct.unpack_from("<BBhi", self.insns, i * INSN_SIZE)
        return code, regs & 0xF, regs >> 4, off, imm


@dataclass
class ObjectSpec:
    name: str
    programs: dict[str, ProgramSpec]
    maps: dict[str, MapSpec]
    license: str = ""
    kernel_version: int | None = None
    btf: Btf | None = None
    section_sizes: dict[str, int] = field(default_factory=dict)  # for DATASEC fixups at BTF load
    symbol_offsets: dict[str, int] = field(default_factory=dict)  # global var name -> section offset
    # ELF binding of every undefined (extern) symbol: "STB_WEAK" externs
    # resolve to 0 when the kernel has no value for them (libbpf's rule)
    extern_bindings: dict[str, str] = field(default_factory=dict)
