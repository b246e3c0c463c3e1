"""Build ProgramSpecs: split sections into functions, append subprograms, relocate.

Mirrors libbpf's bpf_object__reloc_code: each main program gets its own copy
of every subprogram it (transitively) calls, appended after its own code in
depth-first order of first call — the callee is appended and its own calls
processed before the caller's remaining instructions — so instruction indices
match what libbpf hands the kernel.
"""
from __future__ import annotations

import struct

from dataplane.abi.pseudo import BPF_PSEUDO_CALL as PSEUDO_CALL
from dataplane.abi.pseudo import BPF_PSEUDO_FUNC as PSEUDO_FUNC
from dataplane.abi.pseudo import BPF_PSEUDO_KFUNC_CALL as PSEUDO_KFUNC_CALL
from dataplane.abi.pseudo import BPF_PSEUDO_MAP_FD as PSEUDO_MAP_FD
from dataplane.abi.pseudo import BPF_PSEUDO_MAP_VALUE as PSEUDO_MAP_VALUE
from dataplane.errors import LoadError

from . import spec as S
from .elf import ElfInfo, Rel, Symbol
from .sections import classify

from .spec import MapSpec, ProgramSpec, Relocation

R_BPF_NONE = 0
R_BPF_64_64 = 1
R_BPF_64_32 = 10
OP_CALL = 0x85          # BPF_JMP | BPF_CALL
OP_LDDW = 0x18          # BPF_LD | BPF_IMM | BPF_DW


class _Func:
    def __init__(self, name: str, shndx: int, start: int, count: int):
        self.name, self.shndx, self.start, self.count = name, shndx, start, count


def _functions(info: ElfInfo) -> dict[int, list[_Func]]:
    out: dict[int, list[_Func]] = {}
    for idx in info.code:
        sec = info.sections[idx]
        if sec.size % 8:
            raise LoadError(f"section '{sec.name}': size {sec.size} is not a multiple of 8")
        funcs = sorted((s for s in info.symbols if s.shndx == idx and s.type == "STT_FUNC"),
                       key=lambda s: s.value)
        lst = []
        for s in funcs:
            if s.value % 8 or s.size % 8 or s.value + s.size > sec.size or s.size == 0:
                raise LoadError(f"section '{sec.name}': function '{s.name}' has bad bounds "
                                f"(offset {s.value}, size {s.size})")
            lst.append(_Func(s.name, idx, s.value // 8, s.size // 8))
        if not lst and sec.size:
            raise LoadError(f"section '{sec.name}': code without any function symbol")
        out[idx] = lst
    return out


def _find_func(funcs: dict[int, list[_Func]], shndx: int, insn: int) -> _Func | None:
    for f in funcs.get(shndx, ()):
        if f.start <= insn < f.start + f.count:
            return f
    return None


def _validate_rels(info: ElfInfo, funcs: dict[int, list[_Func]]) -> dict[int, dict[int, Rel]]:
    """Check every relocation of every code section, even in unused subprograms."""
    out: dict[int, dict[int, Rel]] = {}
    for idx in info.code:
        sec = info.sections[idx]
        by_insn: dict[int, Rel] = {}
        for r in info.rels.get(idx, ()):
            where = f"section '{sec.name}': relocation at offset {r.offset} against '{r.sym.name or '?'}'"
            if r.type == R_BPF_NONE:
                continue
            if r.type not in (R_BPF_64_64, R_BPF_64_32):
                raise LoadError(f"{where}: unsupported relocation type {r.type}")
            if r.offset % 8 or r.offset + 8 > sec.size:
                raise LoadError(f"{where}: offset outside the section's instructions")
            i = r.offset // 8
            code = sec.data[r.offset]
            if r.type == R_BPF_64_64 and code != OP_LDDW:
                raise LoadError(f"{where}: R_BPF_64_64 on instruction {i} (opcode {code:#x}), expected lddw")
            if r.type == R_BPF_64_32 and code != OP_CALL:
                raise LoadError(f"{where}: R_BPF_64_32 on instruction {i} (opcode {code:#x}), expected call")
            if r.sym.shndx < 0 or (r.sym.shndx > 0 and r.sym.shndx not in info.sections):
                raise LoadError(f"{where}: symbol in unsupported section index")
            if r.sym.shndx == 0 and not r.sym.name:
                raise LoadError(f"{where}: relocation against the null symbol")
            if _find_func(funcs, idx, i) is None:
                raise LoadError(f"{where}: not inside any function")
            by_insn[i] = r
        out[idx] = by_insn
    return out


class _Linker:
    def __init__(self, info: ElfInfo, maps: dict[str, MapSpec], funcs, rels):
        self.info, self.maps, self.funcs, self.rels = info, maps, funcs, rels
        self.map_by_off = {(m.section, m.sec_offset): m for m in maps.values() if not m.internal}

    def link(self, main: _Func) -> tuple[bytearray, list[Relocation], list[tuple[_Func, int]]]:
        self.out = bytearray()
        self.relocs: list[Relocation] = []
        self.placed: dict[tuple[int, int], int] = {}
        self.layout: list[tuple[_Func, int]] = []
        self._append(main)
        self.relocs.sort(key=lambda r: r.insn_index)
        return self.out, self.relocs, self.layout

    def _append(self, f: _Func) -> int:
        base = len(self.out) // 8
        self.placed[(f.shndx, f.start)] = base
        self.layout.append((f, base))
        data = self.info.sections[f.shndx].data
        self.out += data[f.start * 8:(f.start + f.count) * 8]
        self._relocate(f, base)
        return base

    def _callee(self, shndx: int, target: int, where: str) -> tuple[_Func, int]:
        f = _find_func(self.funcs, shndx, target)
        if f is None or f.start != target:
            sec = self.info.sections[shndx].name
            raise LoadError(f"{where}: target instruction {target} of section '{sec}' is not the start of a function")
        key = (f.shndx, f.start)
        start = self.placed[key] if key in self.placed else self._append(f)
        return f, start

    def _set(self, slot: int, src: int | None = None, imm: int | None = None) -> None:
        code, regs, off, old = struct.unpack_from("<BBhi", self.out, slot * 8)
        if src is not None:
            regs = (regs & 0x0F) | (src << 4)
        struct.pack_into("<BBhi", self.out, slot * 8, code, regs, off, old if imm is None else imm)

    def _relocate(self, f: _Func, base: int) -> None:
        sec = self.info.sections[f.shndx]
        rels = self.rels.get(f.shndx, {})
        i = 0
        while i < f.count:
            gi, oi = f.start + i, base + i
            code, regs, _off, imm = struct.unpack_from("<BBhi", self.out, oi * 8)
            src = regs >> 4
            r = rels.get(gi)
            where = f"section '{sec.name}' function '{f.name}' insn {i}"
            if code == OP_CALL and (r is not None or src == PSEUDO_CALL):
                self._call(r, f.shndx, gi, oi, imm, where)
            elif code == OP_LDDW:
                if r is not None:
                    self._lddw(r, oi, imm, where + f" relocation against '{r.sym.name}'")
                i += 1  # second slot of the 16-byte instruction
            i += 1

    def _call(self, r: Rel | None, shndx: int, gi: int, oi: int, imm: int, where: str) -> None:
        if r is None:  # static call inside the same section: imm is pc-relative
            target_sec, target = shndx, gi + imm + 1
            sym_name = ""
        else:
            sym = r.sym
            where += f" relocation against '{sym.name}'"
            if sym.shndx == 0:  # extern: kfunc declared with __ksym
                self._set(oi, src=PSEUDO_KFUNC_CALL, imm=0)
                self.relocs.append(Relocation(oi, S.KFUNC, sym.name))
                return
            if sym.shndx not in self.info.code:
                raise LoadError(f"{where}: call into non-code section '{self.info.sections[sym.shndx].name}'")
            target_sec, target = sym.shndx, sym.value // 8 + imm + 1
            sym_name = sym.name
        callee, start = self._callee(target_sec, target, where)
        self._set(oi, src=PSEUDO_CALL, imm=start - oi - 1)
        self.relocs.append(Relocation(oi, S.CALL, callee.name or sym_name, offset=start))

    def _lddw(self, r: Rel, oi: int, imm: int, where: str) -> None:
        sym = r.sym
        shndx = sym.shndx
        if shndx == 0:
            kind = S.KCONFIG if self._is_kconfig(sym) else S.KSYM
            self.relocs.append(Relocation(oi, kind, sym.name))
            return
        secname = self.info.sections[shndx].name
        if shndx in self.info.code:  # address of a subprogram (callback for bpf_loop & co)
            callee, start = self._callee(shndx, sym.value // 8 + imm // 8, where)
            self._set(oi, src=PSEUDO_FUNC, imm=start - oi - 1)
            self.relocs.append(Relocation(oi, S.FUNC_ADDR, callee.name, offset=start))
            return
        if shndx in self.info.map_sections:
            off = sym.value + (imm if sym.type == "STT_SECTION" else 0)
            m = self.map_by_off.get((secname, off))
            if m is None:
                raise LoadError(f"{where}: no map defined at offset {off} of section '{secname}'")
            self._set(oi, src=PSEUDO_MAP_FD, imm=0)
            self.relocs.append(Relocation(oi, S.MAP_FD, sym.name or secname, m.name))
            return
        if shndx in self.info.data_sections:
            mname = self.info.data_sections[shndx]
            off = imm + sym.value
            size = self.maps[mname].value_size
            if not 0 <= off < size:
                raise LoadError(f"{where}: offset {off} outside section '{secname}' ({size} bytes)")
            self._set(oi, src=PSEUDO_MAP_VALUE, imm=0)
            self._set(oi + 1, imm=off)
            self.relocs.append(Relocation(oi, S.MAP_VALUE, sym.name or secname, mname, off))
            return
        raise LoadError(f"{where}: relocation into section '{secname}' is not supported")

    def _is_kconfig(self, sym: Symbol) -> bool:
        btf = self.info.btf
        ds = btf.find(".kconfig", "DATASEC") if btf else None
        return ds is not None and any(btf[v.type].name == sym.name for v in ds.members)


def link_programs(info: ElfInfo, maps: dict[str, MapSpec], license: str, kver: int) -> dict[str, ProgramSpec]:
    funcs = _functions(info)
    rels = _validate_rels(info, funcs)
    linker = _Linker(info, maps, funcs, rels)
    ext = info.btf_ext
    programs: dict[str, ProgramSpec] = {}
    for idx in sorted(info.code):
        if idx == info.text_index:
            continue  # .text holds subprograms only (libbpf: prog_is_subprog)
        secname = info.sections[idx].name
        cls = classify(secname)
        # Unknown section names load with prog_type 0: like libbpf, the type can be
        # set by the caller; program load fails otherwise.
        ptype, atype, pflags, target = cls if cls else (0, None, 0, "")
        for f in funcs[idx]:
            insns, relocs, layout = linker.link(f)
            p = ProgramSpec(name=f.name, section=secname, prog_type=ptype, attach_type=atype,
                            insns=bytes(insns), relocations=relocs, license=license,
                            kernel_version=kver, prog_flags=pflags, attach_to=target,
                            sec_insn_off=f.start, sec_insn_cnt=f.count,
                            subprograms=[(g.name, b) for g, b in layout[1:]])
            if ext is not None:
                _attach_ext(p, ext, info, layout)
            if f.name in programs:
                raise LoadError(f"program '{f.name}': defined twice")
            programs[f.name] = p
    return programs


def _attach_ext(p: ProgramSpec, ext, info: ElfInfo, layout) -> None:
    """Copy func/line info and CO-RE records of each placed function, shifted to its slot."""
    from dataclasses import replace
    for f, base in layout:
        sec = info.sections[f.shndx].name
        lo, hi = f.start, f.start + f.count
        for rec in ext.func_info.get(sec, ()):
            if lo <= rec.insn_off < hi:
                p.func_info.append(replace(rec, insn_off=base + rec.insn_off - lo))
        for rec in ext.line_info.get(sec, ()):
            if lo <= rec.insn_off < hi:
                p.line_info.append(replace(rec, insn_off=base + rec.insn_off - lo))
        for rec in ext.core_relos.get(sec, ()):
            if lo <= rec.insn_off < hi:
                p.core_relos.append(replace(rec, insn_off=base + rec.insn_off - lo))
