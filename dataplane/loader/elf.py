"""ELF object -> ObjectSpec (pure data), using pyelftools for the ELF layer.

Section roles follow libbpf's bpf_object__elf_collect: executable PROGBITS
sections hold programs (``.text`` holds subprograms only), ``.maps`` holds
BTF-defined maps, ``maps`` legacy ``struct bpf_map_def``s, ``.data*``,
``.rodata*``, ``.bss*`` global data, ``license``/``version`` metadata, and
``.rel<sec>`` the relocations of <sec>.  Linking of programs with their
subprograms is in :mod:`dataplane.loader.link`.
"""
from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from dataplane.errors import LoadError

from . import maps as _maps
from .btf import Btf, BtfExt, parse_btf, parse_btf_ext
from .spec import MapSpec, ObjectSpec

EM_BPF = 247
SHF_EXECINSTR = 0x4


@dataclass
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: str      # STT_FUNC, STT_OBJECT, STT_SECTION, STT_NOTYPE ...
    bind: str      # STB_GLOBAL, STB_LOCAL, STB_WEAK
    shndx: int     # section index, 0 for undefined (extern), -1 for other special indices


@dataclass
class Section:
    index: int
    name: str
    type: str
    flags: int
    size: int
    data: bytes


@dataclass
class Rel:
    offset: int    # byte offset within the target section
    type: int      # R_BPF_*
    sym: Symbol


@dataclass
class ElfInfo:
    """What link.py needs from the ELF: sections, symbols, relocations, roles."""
    name: str
    sections: dict[int, Section]
    symbols: list[Symbol]
    rels: dict[int, list[Rel]] = field(default_factory=dict)  # target section index -> relocations
    code: set[int] = field(default_factory=set)                # executable section indices
    text_index: int | None = None
    map_sections: dict[int, str] = field(default_factory=dict)   # .maps / maps
    data_sections: dict[int, str] = field(default_factory=dict)  # index -> internal map name
    btf: Btf | None = None
    btf_ext: BtfExt | None = None


def _read_input(path_or_bytes, name: str | None) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), name or "obj"
    path = os.fspath(path_or_bytes)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise LoadError(f"{path}: {e.strerror}", kind=e.errno) from e
    return data, name or _maps.object_name(path)


def _shndx(raw) -> int:
    if isinstance(raw, int):
        return raw
    return 0 if raw == "SHN_UNDEF" else -1


def _parse_elf(data: bytes, name: str) -> ElfInfo:
    if data[:4] != b"\x7fELF":
        raise LoadError(f"object '{name}': not an ELF file")
    if len(data) < 64:
        raise LoadError(f"object '{name}': truncated ELF header ({len(data)} bytes)")
    try:
        elf = ELFFile(io.BytesIO(data))
        machine = elf.header["e_machine"]
        mnum = machine if isinstance(machine, int) else {"EM_BPF": EM_BPF}.get(machine, -1)
        if mnum != EM_BPF:
            raise LoadError(f"object '{name}': machine {machine} is not EM_BPF ({EM_BPF})")
        if elf.elfclass != 64 or not elf.little_endian:
            raise LoadError(f"object '{name}': only 64-bit little-endian BPF objects are supported")
        end = elf.header["e_shoff"] + elf.header["e_shnum"] * elf.header["e_shentsize"]
        if end > len(data):
            raise LoadError(f"object '{name}': truncated (section headers end at {end}, file has {len(data)} bytes)")
        sections: dict[int, Section] = {}
        symtab = None
        for idx, sec in enumerate(elf.iter_sections()):
            if idx == 0:
                continue
            stype, size = sec["sh_type"], sec["sh_size"]
            if stype != "SHT_NOBITS" and sec["sh_offset"] + size > len(data):
                raise LoadError(f"object '{name}': section '{sec.name}' truncated "
                                f"(ends at {sec['sh_offset'] + size}, file has {len(data)} bytes)")
            body = b"" if stype == "SHT_NOBITS" else sec.data()
            sections[idx] = Section(idx, sec.name, stype, sec["sh_flags"], size, body)
            if stype == "SHT_SYMTAB":
                symtab = sec
        if symtab is None:
            raise LoadError(f"object '{name}': no symbol table (.symtab)")
        symbols = []
        for i, s in enumerate(symtab.iter_symbols()):
            symbols.append(Symbol(i, s.name, s["st_value"], s["st_size"], s["st_info"]["type"],
                                  s["st_info"]["bind"], _shndx(s["st_shndx"])))
        info = ElfInfo(name, sections, symbols)
        for idx, sec in enumerate(elf.iter_sections()):
            if sec["sh_type"] == "SHT_REL":
                _collect_rels(info, sec, idx)
            elif sec["sh_type"] == "SHT_RELA":
                raise LoadError(f"section '{sec.name}': RELA relocations are not used by BPF objects")
    # OverflowError: pyelftools seeks to a mutated offset past ssize_t (a section name, found by
    # tests/test_fuzz_cli.py) -- a malformed object like the others, not a crash
    except (ELFError, struct.error, ValueError, IndexError, KeyError, AttributeError, OverflowError) as e:
        raise LoadError(f"object '{name}': malformed ELF: {e}") from e
    return info


def _collect_rels(info: ElfInfo, sec, idx: int) -> None:
    target = sec["sh_info"]
    tsec = info.sections.get(target)
    if tsec is None:
        raise LoadError(f"section '{sec.name}': relocations for unknown section index {target}")
    # Relocations of debug/BTF sections are for DWARF consumers, not for us.
    if tsec.name.startswith(".debug") or tsec.name in (".BTF", ".BTF.ext") or not (tsec.flags & 0x2):
        return
    lst = info.rels.setdefault(target, [])
    for r in sec.iter_relocations():
        si = r["r_info_sym"]
        if not 0 <= si < len(info.symbols):
            raise LoadError(f"section '{sec.name}': relocation at offset {r['r_offset']} "
                            f"against unknown symbol index {si}")
        lst.append(Rel(r["r_offset"], r["r_info_type"], info.symbols[si]))


def _is_data(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in (".data", ".rodata", ".bss"))


def load_object(path_or_bytes, name: str | None = None) -> ObjectSpec:
    """Parse a clang-compiled BPF object (path or bytes) into an ObjectSpec."""
    from .link import link_programs  # link.py imports ElfInfo from here

    data, obj_name = _read_input(path_or_bytes, name)
    info = _parse_elf(data, obj_name)
    by_name = {s.name: s for s in info.sections.values()}

    btf = None
    if ".BTF" in by_name:
        btf = parse_btf(by_name[".BTF"].data)
        if ".BTF.ext" in by_name:
            info.btf_ext = parse_btf_ext(by_name[".BTF.ext"].data, btf)
    info.btf = btf

    license = ""
    kernel_version = None
    if "license" in by_name:
        license = by_name["license"].data.split(b"\0", 1)[0].decode("ascii", "replace")
    if "version" in by_name:
        v = by_name["version"].data
        if len(v) != 4:
            raise LoadError(f"section 'version': size {len(v)}, expected 4")
        kernel_version = struct.unpack("<I", v)[0]

    def syms_in(idx: int) -> dict[str, tuple[int, int]]:
        return {s.name: (s.value, s.size) for s in info.symbols
                if s.shndx == idx and s.type == "STT_OBJECT" and s.name}

    all_maps: dict[str, MapSpec] = {}

    def add(spec: MapSpec) -> None:
        if spec.name in all_maps:
            raise LoadError(f"map '{spec.name}': defined twice (sections '{all_maps[spec.name].section}' and '{spec.section}')")
        all_maps[spec.name] = spec

    values_offsets: dict[str, int] = {}
    for sec in sorted(info.sections.values(), key=lambda s: s.index):
        if sec.name == "maps":
            info.map_sections[sec.index] = sec.name
            for m in _maps.legacy_maps(sec.data, sec.name, syms_in(sec.index)):
                add(m)
        elif sec.name == ".maps":
            info.map_sections[sec.index] = sec.name
            for m, voff in _maps.btf_maps(btf, sec.name, sec.size, syms_in(sec.index)):
                add(m)
                if voff is not None:
                    values_offsets[m.name] = voff
    symbol_offsets: dict[str, int] = {}
    section_sizes: dict[str, int] = {}
    for sec in sorted(info.sections.values(), key=lambda s: s.index):
        if sec.flags & SHF_EXECINSTR and sec.type == "SHT_PROGBITS":
            info.code.add(sec.index)
            if sec.name == ".text":
                info.text_index = sec.index
        elif _is_data(sec.name) and sec.type in ("SHT_PROGBITS", "SHT_NOBITS") and sec.flags & 0x2:
            section_sizes[sec.name] = sec.size
            for s in info.symbols:
                if s.shndx == sec.index and s.type == "STT_OBJECT" and s.name:
                    symbol_offsets[s.name] = s.value
            if sec.size == 0:
                continue  # libbpf skips empty data sections: nothing can reference them
            contents = sec.data if sec.type == "SHT_PROGBITS" else bytes(sec.size)
            m = _maps.data_map(obj_name, sec.name, contents, btf)
            add(m)
            info.data_sections[sec.index] = m.name
    for sec in info.sections.values():
        if sec.name in (".maps", "maps"):
            _map_init_values(info, sec, all_maps, values_offsets)

    programs = link_programs(info, all_maps, license, kernel_version or 0)
    if not programs:
        raise LoadError(f"object '{obj_name}': no program sections (no functions outside .text)")
    return ObjectSpec(name=obj_name, programs=programs, maps=all_maps, license=license,
                      kernel_version=kernel_version, btf=btf, section_sizes=section_sizes,
                      symbol_offsets=symbol_offsets,
                      extern_bindings={s.name: s.bind for s in info.symbols if s.shndx == 0 and s.name})


def _map_init_values(info: ElfInfo, sec: Section, all_maps: dict[str, MapSpec], values_offsets: dict[str, int]) -> None:
    """`.rel.maps` relocations fill `values` slots of prog arrays / map-in-map."""
    rels = info.rels.get(sec.index, [])
    ranges = [(m.sec_offset, m.sec_offset + _sym_size(info, sec.index, m.name), m)
              for m in all_maps.values() if m.section == sec.name]
    for r in rels:
        owner = next((m for lo, hi, m in ranges if lo <= r.offset < hi), None)
        if owner is None or owner.name not in values_offsets:
            raise LoadError(f"section '{sec.name}': relocation at offset {r.offset} against "
                            f"'{r.sym.name}' is not in a map's 'values' member")
        rel_off = r.offset - owner.sec_offset - values_offsets[owner.name]
        if rel_off < 0 or rel_off % 8:
            raise LoadError(f"map '{owner.name}': misaligned 'values' relocation against '{r.sym.name}'")
        slot = rel_off // 8
        if slot >= owner.max_entries:
            raise LoadError(f"map '{owner.name}': 'values' slot {slot} >= max_entries {owner.max_entries}")
        owner.init_values[slot] = r.sym.name


def _sym_size(info: ElfInfo, shndx: int, name: str) -> int:
    for s in info.symbols:
        if s.shndx == shndx and s.name == name:
            return s.size
    return 0
