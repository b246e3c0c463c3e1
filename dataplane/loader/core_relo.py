"""CO-RE: apply a program's .BTF.ext relocation records against a target BTF.

What libbpf's bpf_core_apply_relo does before BPF_PROG_LOAD, for the two
targets dataplane has: its own runtime types (dataplane.kfuncs.btf_types,
used by Collection) and the kernel's vmlinux BTF (used by io.kload).

A record names an instruction, a root type in the program's BTF and an
access string ("0:3" = element 0 of the root, then member #3). The field is
found in the target by *name* along the same path (anonymous members are
searched through), the way libbpf matches a ``preserve_access_index``
struct declared in the .c file against the real one; ``___flavor`` suffixes
of type names are ignored. Supported kinds: field_byte_offset,
field_byte_size, field_exists, field_signed, type_exists, type_size,
type_id_local, type_id_target, enumval_exists, enumval_value.

Patching as bpf_core_patch_insn: ALU with an immediate gets imm = value,
loads/stores get off = value (and their access size follows the target
field's size for byte-offset relocations), lddw gets the 64-bit value.
A relocation that cannot be resolved (other than the *_exists kinds, which
yield 0) is a LoadError naming the type and field.
"""
from __future__ import annotations

import struct

from dataplane.errors import LoadError

from .btf import Btf, BtfType
from .spec import INSN_SIZE, ProgramSpec

_SIZE_BITS = {1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18}   # BPF_B, BPF_H, BPF_W, BPF_DW
_BITS_SIZE = {v: k for k, v in _SIZE_BITS.items()}
_COMPOSITE = ("STRUCT", "UNION")


def essential_name(name: str) -> str:
    """bpf_core_essential_name_len: drop a ``___flavor`` suffix."""
    i = name.find("___")
    return name[:i] if i > 0 else name


class _Unresolved(Exception):
    pass


def _candidates(target: Btf, local: BtfType) -> list[BtfType]:
    name = essential_name(local.name)
    kinds = ("ENUM", "ENUM64") if local.kind in ("ENUM", "ENUM64") else (local.kind,)
    # Exact names first (a dict lookup; vmlinux has ~150k types), then the
    # target's own flavors.
    out = [target[i] for i in target._by_name.get(name, ()) if target[i].kind in kinds]
    if not out:
        out = [t for t in target.types[1:]
               if t.kind in kinds and t.name and "___" in t.name and essential_name(t.name) == name]
    return out


def _find_member(btf: Btf, t: BtfType, name: str, base_bits: int = 0):
    """(member type id, bit offset, bitfield_size) of `name` in t, searching
    anonymous struct/union members like libbpf's bpf_core_match_member."""
    for m in t.members:
        if m.name == name:
            return m.type, base_bits + m.offset, m.bitfield_size
        if not m.name:
            inner = btf.skip_modifiers(m.type)
            if inner.kind in _COMPOSITE:
                r = _find_member(btf, inner, name, base_bits + m.offset)
                if r is not None:
                    return r
    return None


def _walk(local: Btf, target: Btf, root_local: BtfType, root_target: BtfType, access: list[int]):
    """Follow the access path in both BTFs; returns (local, target) results,
    each (bit offset, byte size, type)."""
    lt, tt = root_local, root_target
    lbits = access[0] * local.resolve_size(lt.id) * 8
    tbits = access[0] * target.resolve_size(tt.id) * 8
    path = [lt.name or "(anon)"]
    for idx in access[1:]:
        lt = local.skip_modifiers(lt.id)
        tt = target.skip_modifiers(tt.id)
        if lt.kind in _COMPOSITE:
            if idx >= len(lt.members):
                raise LoadError(f"CO-RE: member #{idx} out of range in {lt.kind.lower()} {lt.name}")
            m = lt.members[idx]
            path.append(m.name)
            if tt.kind not in _COMPOSITE:
                raise _Unresolved(".".join(path))
            if m.name:
                found = _find_member(target, tt, m.name)
                if found is None:
                    raise _Unresolved(".".join(path))
                ttype, toff, _bf = found
            else:   # anonymous member: same position, same kind required
                if idx >= len(tt.members):
                    raise _Unresolved(".".join(path))
                ttype, toff = tt.members[idx].type, tt.members[idx].offset
            lbits += m.offset
            tbits += toff
            lt, tt = local[m.type], target[ttype]
        elif lt.kind == "ARRAY":
            path.append(f"[{idx}]")
            if tt.kind != "ARRAY" or (idx >= tt.nelems and tt.nelems):
                raise _Unresolved("".join(path))
            lbits += idx * local.resolve_size(lt.elem_type) * 8
            tbits += idx * target.resolve_size(tt.elem_type) * 8
            lt, tt = local[lt.elem_type], target[tt.elem_type]
        else:
            raise LoadError(f"CO-RE: cannot index into {lt.kind} at {'.'.join(path)}")
    return (lbits, local.resolve_size(lt.id), local.skip_modifiers(lt.id)), \
           (tbits, target.resolve_size(tt.id), target.skip_modifiers(tt.id))


def _field_value(kind: str, res) -> int:
    bits, size, t = res
    if kind == "field_byte_offset":
        return bits // 8
    if kind == "field_byte_size":
        return size
    if kind == "field_exists":
        return 1
    if kind == "field_signed":
        return int(t.kind == "ENUM" or (t.kind == "INT" and bool(t.int_encoding & 1)))
    raise LoadError(f"CO-RE relocation kind {kind} is not supported")


def resolve(rec, local: Btf, target: Btf) -> tuple[int, int | None]:
    """(value, new access size or None) for one CoreRelo record."""
    lroot = local[rec.type_id]
    kind = rec.kind
    access = [int(x) for x in rec.access.split(":")] if rec.access else [0]
    if kind == "type_id_local":
        return rec.type_id, None
    cands = _candidates(target, local.skip_modifiers(rec.type_id)) if lroot.name or lroot.kind in _COMPOSITE \
        else []
    what = f"{lroot.kind.lower()} {lroot.name}"
    if kind in ("type_exists", "type_size", "type_id_target"):
        if not cands:
            if kind == "type_exists":
                return 0, None
            raise LoadError(f"CO-RE: {what} not found in the target BTF")
        t = cands[0]
        return (1 if kind == "type_exists" else target.resolve_size(t.id) if kind == "type_size" else t.id), None
    if kind in ("enumval_exists", "enumval_value"):
        name = local.skip_modifiers(rec.type_id).members[access[0]].name
        for t in cands:
            for m in t.members:
                if m.name == name:
                    return (1 if kind == "enumval_exists" else m.value), None
        if kind == "enumval_exists":
            return 0, None
        raise LoadError(f"CO-RE: {what}: enumerator {name} not found in the target BTF")
    last = None
    for t in cands:
        try:
            lres, tres = _walk(local, target, local.skip_modifiers(rec.type_id), t, access)
        except _Unresolved as e:
            last = str(e)
            continue
        new_size = tres[1] if kind == "field_byte_offset" and tres[1] != lres[1] else None
        return _field_value(kind, tres), new_size
    if kind == "field_exists":
        return 0, None
    detail = f" (no field {last})" if last else " (type not found)"
    raise LoadError(f"CO-RE: cannot relocate access {rec.access} of {what} for the target{detail}")


def patch(code: bytearray, i: int, value: int, new_size: int | None, what: str) -> None:
    op = code[i * INSN_SIZE]
    cls = op & 0x07
    if op == 0x18:   # lddw
        struct.pack_into("<I", code, i * INSN_SIZE + 4, value & 0xFFFFFFFF)
        struct.pack_into("<I", code, (i + 1) * INSN_SIZE + 4, (value >> 32) & 0xFFFFFFFF)
    elif cls in (0x04, 0x07):   # ALU / ALU64 with an immediate
        if op & 0x08:
            raise LoadError(f"CO-RE: {what}: insn {i} is a register ALU op, cannot patch")
        struct.pack_into("<i", code, i * INSN_SIZE + 4, value)
    elif cls in (0x01, 0x02, 0x03):   # LDX / ST / STX
        if not -32768 <= value <= 32767:
            raise LoadError(f"CO-RE: {what}: offset {value} does not fit insn {i}")
        struct.pack_into("<h", code, i * INSN_SIZE + 2, value)
        if new_size is not None:
            if new_size not in _SIZE_BITS:
                raise LoadError(f"CO-RE: {what}: target field size {new_size} cannot be loaded by insn {i}")
            code[i * INSN_SIZE] = (op & ~0x18) | _SIZE_BITS[new_size]
    else:
        raise LoadError(f"CO-RE: {what}: insn {i} (opcode {op:#04x}) cannot be relocated")


def relocate(ps: ProgramSpec, local: Btf | None, target: Btf, missing: str = "error") -> bytes:
    """The program's instructions with every CO-RE record applied.

    ``missing="local"``: a root type the target does not describe at all
    (e.g. struct xdp_md, whose uapi layout the runtime executes as is) keeps
    the program's own layout instead of failing."""
    if not ps.core_relos:
        return ps.insns
    if local is None:
        raise LoadError(f"program {ps.name}: CO-RE relocations without .BTF")
    code = bytearray(ps.insns)
    for rec in ps.core_relos:
        what = f"program {ps.name}: {rec.kind} {rec.type_name or local[rec.type_id].name}:{rec.access}"
        tgt = target
        if missing == "local" and not _candidates(target, local.skip_modifiers(rec.type_id)):
            tgt = local
        try:
            value, new_size = resolve(rec, local, tgt)
        except LoadError as e:
            raise LoadError(f"program {ps.name}: insn {rec.insn_off}: {e}") from None
        patch(code, rec.insn_off, value, new_size, what)
    return bytes(code)


def relocated_spec(ps: ProgramSpec, local: Btf | None, target: Btf, missing: str = "error") -> ProgramSpec:
    """A copy of ps whose insns have the CO-RE records applied (ps if none)."""
    if not ps.core_relos:
        return ps
    from dataclasses import replace
    return replace(ps, insns=relocate(ps, local, target, missing), core_relos=[])
