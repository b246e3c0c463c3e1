"""CompiledFilter -> an ELF object for the kernel's own loaders, plus the
``bpftool batch`` file that fills its set and group maps.

The object is what clang would produce for the same program: section
``xdp`` with program ``iptables_filter``, BTF-defined maps in ``.maps``
(R_BPF_64_64 relocations on their lddw), kfunc calls as extern functions
(R_BPF_64_32, BTF FUNCs in ``.ksyms``), the CO-RE record of the nf_conn
field it reads (``.BTF.ext``, so the one object runs in the kernel and in
the dataplane), ``license``.  So::

    bpftool prog loadall OBJ.o DIR pinmaps DIR/maps     # or: ip link set dev X xdp obj OBJ.o sec xdp
    bpftool batch file OBJ.o.batch                      # fills DIR/maps/* (DIR given at emit time)

The batch file holds ``map update pinned DIR/maps/NAME key hex .. value
hex ..`` lines; counters start at zero (a per-CPU value cannot be restored
to one CPU with bpftool).
"""
from __future__ import annotations

import struct
from pathlib import Path

from dataplane.filter.btfgen import BtfBuilder, kfunc, local_types, map_def
from dataplane.loader import spec as S

EM_BPF = 247
R_BPF_64_64, R_BPF_64_32 = 1, 10
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_REL = 1, 2, 3, 9
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
STB_GLOBAL = 1
STT_NOTYPE, STT_OBJECT, STT_FUNC = 0, 1, 2


class _Strtab:
    def __init__(self):
        self.data = bytearray(b"\0")

    def add(self, s: str) -> int:
        off = len(self.data)
        self.data += s.encode() + b"\0"
        return off


def elf_bytes(cf) -> bytes:
    spec = cf.spec
    prog = spec.programs[next(iter(spec.programs))]
    maps = list(spec.maps.values())
    btf = BtfBuilder()
    local = local_types(btf)              # first: the ids the CO-RE records name (program.py)
    entries, off, map_off = [], 0, {}
    for m in maps:
        tid, size = map_def(btf, m)
        entries.append((btf.var(m.name, tid), off, size))
        map_off[m.name] = (off, size)
        off += size
    maps_size = off
    btf.datasec(".maps", entries, maps_size)
    kfuncs = sorted({r.symbol for r in prog.relocations if r.kind == S.KFUNC})
    if kfuncs:
        btf.datasec(".ksyms", [(kfunc(btf, k), 0, 0) for k in kfuncs], 0)
    xdp_md = btf.struct_("xdp_md", [], 0)
    func_id = btf.func(prog.name, btf.func_proto(btf.int_(), [("ctx", btf.ptr(xdp_md))]), 1)
    core = [(r.insn_off, local[r.type_name][0], r.access) for r in prog.core_relos]
    ext = btf.btf_ext("xdp", func_id, core, "iptables-restore")
    btf_data = btf.encode()

    strtab, shstr = _Strtab(), _Strtab()
    # sections: 0 null, 1 xdp, 2 .relxdp, 3 .maps, 4 license, 5 .BTF, 6 .BTF.ext, 7 .symtab, 8 .strtab, 9 .shstrtab
    symtab_idx = 7
    syms = [struct.pack("<IBBHQQ", 0, 0, 0, 0, 0, 0)]
    sym_index: dict[str, int] = {}

    def sym(name: str, typ: int, shndx: int, value: int, size: int) -> None:
        sym_index[name] = len(syms)
        syms.append(struct.pack("<IBBHQQ", strtab.add(name), (STB_GLOBAL << 4) | typ, 0, shndx, value, size))

    sym(prog.name, STT_FUNC, 1, 0, len(prog.insns))
    for m in maps:
        o, sz = map_off[m.name]
        sym(m.name, STT_OBJECT, 3, o, sz)
    sym("_license", STT_OBJECT, 4, 0, 4)
    for k in kfuncs:
        sym(k, STT_NOTYPE, 0, 0, 0)
    rels = []
    code = bytearray(prog.insns)
    for r in prog.relocations:
        if r.kind in (S.MAP_FD, S.MAP_VALUE):
            code[r.insn_index * 8 + 1] &= 0x0F         # clang leaves src 0; libbpf sets BPF_PSEUDO_MAP_FD
            rels.append(struct.pack("<QQ", r.insn_index * 8, (sym_index[r.map_name] << 32) | R_BPF_64_64))
        elif r.kind == S.KFUNC:
            rels.append(struct.pack("<QQ", r.insn_index * 8, (sym_index[r.symbol] << 32) | R_BPF_64_32))
    sections = [
        ("xdp", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, bytes(code), 0, 0, 8, 0),
        (".relxdp", SHT_REL, 0, b"".join(rels), symtab_idx, 1, 8, 16),
        (".maps", SHT_PROGBITS, SHF_WRITE | SHF_ALLOC, bytes(maps_size), 0, 0, 8, 0),
        ("license", SHT_PROGBITS, SHF_WRITE | SHF_ALLOC, b"GPL\0", 0, 0, 1, 0),
        (".BTF", SHT_PROGBITS, 0, btf_data, 0, 0, 4, 0),
        (".BTF.ext", SHT_PROGBITS, 0, ext, 0, 0, 4, 0),
        (".symtab", SHT_SYMTAB, 0, b"".join(syms), symtab_idx + 1, 1, 8, 24),
        (".strtab", SHT_STRTAB, 0, bytes(strtab.data), 0, 0, 1, 0),
    ]
    names = [shstr.add(n) for n, *_ in sections]
    shstr_name = shstr.add(".shstrtab")
    sections.append((".shstrtab", SHT_STRTAB, 0, bytes(shstr.data), 0, 0, 1, 0))
    names.append(shstr_name)
    body = bytearray()
    offsets = []
    pos = 64
    for _, _, _, data, _, _, align, _ in sections:
        pad = (-pos) % max(align, 1)
        body += bytes(pad)
        pos += pad
        offsets.append(pos)
        body += data
        pos += len(data)
    pad = (-pos) % 8
    body += bytes(pad)
    shoff = pos + pad
    shdrs = [bytes(64)]
    for (n, typ, flags, data, link, info, align, entsize), name, o in zip(sections, names, offsets):
        shdrs.append(struct.pack("<IIQQQQIIQQ", name, typ, flags, 0, o, len(data), link, info, align, entsize))
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
            + struct.pack("<HHIQQQIHHHHHH", 1, EM_BPF, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(shdrs),
                          len(shdrs) - 1))
    return ehdr + bytes(body) + b"".join(shdrs)


def batch_text(cf, pin_dir: str) -> str:
    lines = [f"# fills the maps of {cf.spec.name} after: bpftool prog loadall OBJ.o {pin_dir} pinmaps "
             f"{pin_dir}/maps"]
    for name, ents in cf.fills.items():
        for k, v in ents:
            lines.append(f"map update pinned {pin_dir}/maps/{name} key hex {k.hex(' ')} value hex {v.hex(' ')}")
    return "\n".join(lines) + "\n"


def emit(cf, path: str | Path, pin_dir: str = "/sys/fs/bpf/iptables_filter") -> tuple[Path, Path]:
    """Write OBJ.o and OBJ.o.batch."""
    p = Path(path)
    p.write_bytes(elf_bytes(cf))
    b = Path(str(p) + ".batch")
    b.write_text(batch_text(cf, pin_dir))
    return p, b
