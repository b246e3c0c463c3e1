"""BTF and .BTF.ext parsing: pure data, no kernel interaction.

The layout follows include/uapi/linux/btf.h (kernel doc Documentation/bpf/btf.rst).
Type ids start at 1; id 0 is ``void``.  Objects straight out of clang are
parsed as they are: DATASEC sizes/offsets are not fixed up here (libbpf does
that when it loads BTF into the kernel; the loader exposes section sizes so a
later step can do the same).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from dataplane.errors import LoadError

BTF_MAGIC = 0xEB9F

# BTF_KIND_* values from uapi/linux/btf.h
KIND_NAMES = {
    0: "UNKN", 1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM",
    7: "FWD", 8: "TYPEDEF", 9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC",
    13: "FUNC_PROTO", 14: "VAR", 15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG",
    18: "TYPE_TAG", 19: "ENUM64",
}
KIND = {v: k for k, v in KIND_NAMES.items()}
# Kinds that only qualify/alias another type: sizes resolve through them.
_MODIFIERS = {"TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "TYPE_TAG"}

# Relocation kinds of struct bpf_core_relo (enum bpf_core_relo_kind).
CORE_RELO_KINDS = {
    0: "field_byte_offset", 1: "field_byte_size", 2: "field_exists", 3: "field_signed",
    4: "field_lshift_u64", 5: "field_rshift_u64", 6: "type_id_local", 7: "type_id_target",
    8: "type_exists", 9: "type_size", 10: "enumval_exists", 11: "enumval_value",
    12: "type_matches",
}


@dataclass(frozen=True)
class Member:
    """A STRUCT/UNION member, ENUM value, FUNC_PROTO param or DATASEC entry."""
    name: str
    type: int = 0           # member/param/var type id (0 for enum values)
    offset: int = 0         # bit offset (struct/union) or byte offset (datasec)
    bitfield_size: int = 0  # struct/union with kind_flag
    value: int = 0          # enum value
    size: int = 0           # datasec entry size


@dataclass(frozen=True)
class BtfType:
    id: int
    kind: str
    name: str
    size: int = 0           # INT/STRUCT/UNION/ENUM/DATASEC/FLOAT/ENUM64
    type: int = 0           # referenced type: PTR/TYPEDEF/CONST/.../FUNC/VAR/DECL_TAG; proto return
    kind_flag: bool = False
    vlen: int = 0
    members: tuple[Member, ...] = ()
    # ARRAY
    elem_type: int = 0
    index_type: int = 0
    nelems: int = 0
    # INT encoding
    int_encoding: int = 0
    int_offset: int = 0
    int_bits: int = 0
    # VAR linkage (0 static, 1 global allocated, 2 extern) / FUNC linkage (vlen)
    linkage: int = 0
    # DECL_TAG component index (-1: the whole declaration)
    component_idx: int = -1


@dataclass
class Btf:
    """Parsed .BTF section: ``types[id]`` (index 0 is void) and the raw bytes."""
    raw: bytes
    types: list[BtfType]
    strings: bytes
    _by_name: dict[str, list[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for t in self.types[1:]:
            if t.name:
                self._by_name.setdefault(t.name, []).append(t.id)

    def __getitem__(self, type_id: int) -> BtfType:
        if not 0 <= type_id < len(self.types):
            raise LoadError(f"BTF: type id {type_id} out of range (have {len(self.types) - 1})")
        return self.types[type_id]

    def string(self, off: int) -> str:
        return _cstr(self.strings, off, "BTF")

    def find(self, name: str, kind: str | None = None) -> BtfType | None:
        for tid in self._by_name.get(name, ()):
            if kind is None or self.types[tid].kind == kind:
                return self.types[tid]
        return None

    def skip_modifiers(self, type_id: int) -> BtfType:
        """Follow typedef/const/volatile/restrict/type_tag to the real type."""
        t = self[type_id]
        seen = 0
        while t.kind in _MODIFIERS:
            t = self[t.type]
            seen += 1
            if seen > 64:
                raise LoadError(f"BTF: modifier loop at type {type_id}")
        return t

    def resolve_size(self, type_id: int) -> int:
        """Byte size of a type, through typedef/const chains and arrays (btf__resolve_size)."""
        nelems = 1
        t = self[type_id]
        for _ in range(64):
            if t.kind in ("INT", "STRUCT", "UNION", "ENUM", "ENUM64", "DATASEC", "FLOAT"):
                return nelems * t.size
            if t.kind == "PTR":
                return nelems * 8
            if t.kind == "ARRAY":
                nelems *= t.nelems
                t = self[t.elem_type]
                continue
            if t.kind in _MODIFIERS or t.kind == "VAR":
                t = self[t.type]
                continue
            raise LoadError(f"BTF: type {type_id} ({t.kind} '{t.name}') has no size")
        raise LoadError(f"BTF: type chain too deep at type {type_id}")


def _cstr(buf: bytes, off: int, what: str) -> str:
    if off < 0 or off > len(buf):
        raise LoadError(f"{what}: string offset {off} out of range ({len(buf)} bytes)")
    end = buf.find(b"\0", off)
    if end < 0:
        raise LoadError(f"{what}: unterminated string at offset {off}")
    return buf[off:end].decode("utf-8", "replace")


def parse_btf(data: bytes) -> Btf:
    if len(data) < 24:
        raise LoadError(f".BTF: truncated header ({len(data)} bytes)")
    magic, version, flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
    if magic != BTF_MAGIC:
        raise LoadError(f".BTF: bad magic {magic:#x}")
    if version != 1:
        raise LoadError(f".BTF: unsupported version {version}")
    type_off, type_len, str_off, str_len = struct.unpack_from("<IIII", data, 8)
    base = hdr_len
    if base + type_off + type_len > len(data) or base + str_off + str_len > len(data):
        raise LoadError(".BTF: type or string section extends past end of data")
    strings = data[base + str_off: base + str_off + str_len]
    tdata = data[base + type_off: base + type_off + type_len]
    types: list[BtfType] = [BtfType(0, "UNKN", "void")]
    pos = 0

    def s(off: int) -> str:
        return _cstr(strings, off, ".BTF")

    while pos < len(tdata):
        if pos + 12 > len(tdata):
            raise LoadError(f".BTF: truncated type {len(types)}")
        name_off, info, size_type = struct.unpack_from("<III", tdata, pos)
        pos += 12
        vlen = info & 0xFFFF
        kind_id = (info >> 24) & 0x1F
        kflag = bool(info >> 31)
        kind = KIND_NAMES.get(kind_id)
        tid = len(types)
        if kind is None or kind == "UNKN":
            raise LoadError(f".BTF: type {tid} has unknown kind {kind_id}")
        name = s(name_off)
        common = dict(id=tid, kind=kind, name=name, kind_flag=kflag, vlen=vlen)

        def need(n: int) -> None:
            if pos + n > len(tdata):
                raise LoadError(f".BTF: truncated {kind} type {tid} '{name}'")

        if kind == "INT":
            need(4)
            (enc,) = struct.unpack_from("<I", tdata, pos)
            pos += 4
            t = BtfType(size=size_type, int_encoding=(enc >> 24) & 0xF,
                        int_offset=(enc >> 16) & 0xFF, int_bits=enc & 0xFF, **common)
        elif kind == "ARRAY":
            need(12)
            et, it, n = struct.unpack_from("<III", tdata, pos)
            pos += 12
            t = BtfType(elem_type=et, index_type=it, nelems=n, **common)
        elif kind in ("STRUCT", "UNION"):
            need(12 * vlen)
            ms = []
            for _ in range(vlen):
                mn, mt, mo = struct.unpack_from("<III", tdata, pos)
                pos += 12
                if kflag:
                    ms.append(Member(s(mn), mt, mo & 0xFFFFFF, mo >> 24))
                else:
                    ms.append(Member(s(mn), mt, mo))
            t = BtfType(size=size_type, members=tuple(ms), **common)
        elif kind == "ENUM":
            need(8 * vlen)
            ms = []
            for _ in range(vlen):
                mn, val = struct.unpack_from("<Ii", tdata, pos)
                pos += 8
                ms.append(Member(s(mn), value=val if kflag else val & 0xFFFFFFFF))
            t = BtfType(size=size_type, members=tuple(ms), **common)
        elif kind == "ENUM64":
            need(12 * vlen)
            ms = []
            for _ in range(vlen):
                mn, lo, hi = struct.unpack_from("<III", tdata, pos)
                pos += 12
                val = (hi << 32) | lo
                if kflag and val >> 63:
                    val -= 1 << 64
                ms.append(Member(s(mn), value=val))
            t = BtfType(size=size_type, members=tuple(ms), **common)
        elif kind == "FUNC_PROTO":
            need(8 * vlen)
            ms = []
            for _ in range(vlen):
                mn, mt = struct.unpack_from("<II", tdata, pos)
                pos += 8
                ms.append(Member(s(mn), mt))
            t = BtfType(type=size_type, members=tuple(ms), **common)
        elif kind == "VAR":
            need(4)
            (linkage,) = struct.unpack_from("<I", tdata, pos)
            pos += 4
            t = BtfType(type=size_type, linkage=linkage, **common)
        elif kind == "DATASEC":
            need(12 * vlen)
            ms = []
            for _ in range(vlen):
                vt, vo, vs = struct.unpack_from("<III", tdata, pos)
                pos += 12
                ms.append(Member("", vt, offset=vo, size=vs))
            t = BtfType(size=size_type, members=tuple(ms), **common)
        elif kind == "DECL_TAG":
            need(4)
            (cidx,) = struct.unpack_from("<i", tdata, pos)
            pos += 4
            t = BtfType(type=size_type, component_idx=cidx, **common)
        elif kind == "FLOAT":
            t = BtfType(size=size_type, **common)
        elif kind == "FUNC":
            t = BtfType(type=size_type, linkage=vlen, **common)
        else:  # PTR FWD TYPEDEF VOLATILE CONST RESTRICT TYPE_TAG
            t = BtfType(type=size_type, **common)
        types.append(t)
    return Btf(raw=bytes(data), types=types, strings=strings)


# ---------------------------------------------------------------- .BTF.ext

@dataclass(frozen=True)
class FuncInfo:
    insn_off: int     # instruction index (not bytes) within the section / program
    type_id: int      # BTF FUNC type
    name: str = ""


@dataclass(frozen=True)
class LineInfo:
    insn_off: int     # instruction index
    file_name: str
    line: str         # source line text
    line_num: int
    col: int
    file_name_off: int = 0
    line_off: int = 0


@dataclass(frozen=True)
class CoreRelo:
    insn_off: int     # instruction index
    type_id: int      # root type of the access
    access: str       # access string, e.g. "0:1:2"
    kind: str         # CORE_RELO_KINDS name
    kind_id: int = 0
    type_name: str = ""


@dataclass
class BtfExt:
    """Per-ELF-section records of .BTF.ext; insn offsets converted to instruction indices."""
    func_info: dict[str, list[FuncInfo]]
    line_info: dict[str, list[LineInfo]]
    core_relos: dict[str, list[CoreRelo]]
    func_info_rec_size: int = 8
    line_info_rec_size: int = 16


def _ext_records(data: bytes, off: int, length: int, min_rec: int, what: str, btf: Btf):
    """Yield (section_name, rec_size, record bytes) for one .BTF.ext info block."""
    if length == 0:
        return 0, []
    if off + length > len(data) or length < 4:
        raise LoadError(f".BTF.ext: {what} extends past end of section")
    (rec_size,) = struct.unpack_from("<I", data, off)
    if rec_size < min_rec:
        raise LoadError(f".BTF.ext: {what} record size {rec_size} < {min_rec}")
    pos, end, out = off + 4, off + length, []
    while pos < end:
        if pos + 8 > end:
            raise LoadError(f".BTF.ext: truncated {what} section header")
        sec_off, num = struct.unpack_from("<II", data, pos)
        pos += 8
        sec = btf.string(sec_off)
        if pos + num * rec_size > end:
            raise LoadError(f".BTF.ext: truncated {what} records for section '{sec}'")
        recs = [data[pos + i * rec_size: pos + (i + 1) * rec_size] for i in range(num)]
        pos += num * rec_size
        out.append((sec, recs))
    return rec_size, out


def parse_btf_ext(data: bytes, btf: Btf) -> BtfExt:
    if len(data) < 24:
        raise LoadError(f".BTF.ext: truncated header ({len(data)} bytes)")
    magic, version, flags, hdr_len = struct.unpack_from("<HBBI", data, 0)
    if magic != BTF_MAGIC:
        raise LoadError(f".BTF.ext: bad magic {magic:#x}")
    fi_off, fi_len, li_off, li_len = struct.unpack_from("<IIII", data, 8)
    cr_off = cr_len = 0
    if hdr_len >= 32 and len(data) >= 32:
        cr_off, cr_len = struct.unpack_from("<II", data, 24)
    base = hdr_len
    func_info: dict[str, list[FuncInfo]] = {}
    line_info: dict[str, list[LineInfo]] = {}
    core: dict[str, list[CoreRelo]] = {}
    fi_size, blocks = _ext_records(data, base + fi_off, fi_len, 8, "func_info", btf)
    for sec, recs in blocks:
        lst = func_info.setdefault(sec, [])
        for r in recs:
            off, tid = struct.unpack_from("<II", r, 0)
            name = btf[tid].name if tid < len(btf.types) else ""
            lst.append(FuncInfo(off // 8, tid, name))
    li_size, blocks = _ext_records(data, base + li_off, li_len, 16, "line_info", btf)
    for sec, recs in blocks:
        lst2 = line_info.setdefault(sec, [])
        for r in recs:
            off, fno, lno, lc = struct.unpack_from("<IIII", r, 0)
            lst2.append(LineInfo(off // 8, btf.string(fno), btf.string(lno), lc >> 10, lc & 0x3FF, fno, lno))
    _, blocks = _ext_records(data, base + cr_off, cr_len, 16, "core_relo", btf)
    for sec, recs in blocks:
        lst3 = core.setdefault(sec, [])
        for r in recs:
            off, tid, acc, kind = struct.unpack_from("<IIII", r, 0)
            tname = btf[tid].name if tid < len(btf.types) else ""
            lst3.append(CoreRelo(off // 8, tid, btf.string(acc), CORE_RELO_KINDS.get(kind, f"kind{kind}"), kind, tname))
    return BtfExt(func_info, line_info, core, fi_size or 8, li_size or 16)
