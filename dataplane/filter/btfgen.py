"""A little BTF the emitted object needs: libbpf-style map definitions
(``__uint(type, X)`` members are ``int (*type)[X]``) in a ``.maps``
DATASEC, and the prototypes of the kfuncs the program calls, as extern
FUNCs in a ``.ksyms`` DATASEC (libbpf resolves them against vmlinux and
checks the prototypes are compatible: pointers to structs, u32 sizes)."""
from __future__ import annotations

import struct

KIND = {"INT": 1, "PTR": 2, "ARRAY": 3, "STRUCT": 4, "FUNC": 12, "FUNC_PROTO": 13, "VAR": 14, "DATASEC": 15}
# kfunc name -> (return, [params]) with "int"/"u32"/"void" or "struct NAME *"
KFUNC_PROTOS = {
    "bpf_xdp_ct_lookup": ("struct nf_conn *", ["struct xdp_md *", "struct bpf_sock_tuple *", "u32",
                                               "struct bpf_ct_opts *", "u32"]),
    "bpf_xdp_ct_alloc": ("struct nf_conn___init *", ["struct xdp_md *", "struct bpf_sock_tuple *", "u32",
                                                     "struct bpf_ct_opts *", "u32"]),
    "bpf_ct_insert_entry": ("struct nf_conn *", ["struct nf_conn___init *"]),
    "bpf_ct_release": ("void", ["struct nf_conn *"]),
    "bpf_ct_set_timeout": ("void", ["struct nf_conn___init *", "u32"]),
    "bpf_ct_change_status": ("int", ["struct nf_conn *", "u32"]),
}


class BtfBuilder:
    def __init__(self):
        self.types: list[bytes] = []
        self.strings = bytearray(b"\0")
        self._str: dict[str, int] = {"": 0}
        self._cache: dict[tuple, int] = {}

    def s(self, text: str) -> int:
        off = self._str.get(text)
        if off is None:
            off = self._str[text] = len(self.strings)
            self.strings += text.encode() + b"\0"
        return off

    def _add(self, data: bytes, key: tuple | None = None) -> int:
        if key is not None and key in self._cache:
            return self._cache[key]
        self.types.append(data)
        tid = len(self.types)
        if key is not None:
            self._cache[key] = tid
        return tid

    def int_(self, name: str = "int", size: int = 4, signed: bool = True) -> int:
        return self._add(struct.pack("<IIII", self.s(name), KIND["INT"] << 24, size,
                                     ((1 if signed else 0) << 24) | size * 8), ("int", name))

    def ptr(self, target: int) -> int:
        return self._add(struct.pack("<III", 0, KIND["PTR"] << 24, target), ("ptr", target))

    def array(self, elem: int, n: int) -> int:
        i = self.int_()
        return self._add(struct.pack("<IIIIII", 0, KIND["ARRAY"] << 24, 0, elem, i, n), ("arr", elem, n))

    def struct_(self, name: str, members: list[tuple[str, int, int]], size: int) -> int:
        body = b"".join(struct.pack("<III", self.s(n), t, off) for n, t, off in members)
        key = ("struct", name) if name and not members else None
        return self._add(struct.pack("<III", self.s(name), (KIND["STRUCT"] << 24) | len(members), size) + body, key)

    def var(self, name: str, t: int) -> int:
        return self._add(struct.pack("<IIII", self.s(name), KIND["VAR"] << 24, t, 1))

    def datasec(self, name: str, entries: list[tuple[int, int, int]], size: int) -> int:
        body = b"".join(struct.pack("<III", t, off, sz) for t, off, sz in entries)
        return self._add(struct.pack("<III", self.s(name), (KIND["DATASEC"] << 24) | len(entries), size) + body)

    def func_proto(self, ret: int, params: list[tuple[str, int]]) -> int:
        body = b"".join(struct.pack("<II", self.s(n), t) for n, t in params)
        return self._add(struct.pack("<III", 0, (KIND["FUNC_PROTO"] << 24) | len(params), ret) + body)

    def func(self, name: str, proto: int, linkage: int) -> int:
        return self._add(struct.pack("<III", self.s(name), (KIND["FUNC"] << 24) | linkage, proto))

    def ctype(self, text: str) -> int:
        if text == "void":
            return 0
        if text == "int":
            return self.int_()
        if text == "u32":
            return self.int_("unsigned int", 4, False)
        assert text.startswith("struct ") and text.endswith(" *"), text
        return self.ptr(self.struct_(text[7:-2], [], 0))

    def btf_ext(self, sec: str, func_id: int, core: list[tuple[int, int, str]], source: str) -> bytes:
        """.BTF.ext of section ``sec``: the program's func info (its FUNC at
        insn 0), one line info naming ``source``, and the CO-RE records
        (insn slot, type id, access string)."""
        name = self.s(sec)
        fi = struct.pack("<III", 8, name, 1) + struct.pack("<II", 0, func_id)
        li = struct.pack("<III", 16, name, 1) + struct.pack("<IIII", 0, self.s(source), self.s(""), 1 << 10)
        recs = b"".join(struct.pack("<IIII", slot * 8, tid, self.s(acc), 0) for slot, tid, acc in core)
        cr = struct.pack("<III", 16, name, len(core)) + recs if core else b""
        return (struct.pack("<HBBIIIIIII", 0xEB9F, 1, 0, 32, 0, len(fi), len(fi), len(li), len(fi) + len(li),
                            len(cr)) + fi + li + cr)

    def encode(self) -> bytes:
        types = b"".join(self.types)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(self.strings))
        return hdr + types + bytes(self.strings)


# The program's own view of the kernel structs it reads through kfunc
# pointers: only the members it touches, at offsets CO-RE replaces.
LOCAL_STRUCTS = {"nf_conn": [("status", "unsigned long", 8)]}


def local_types(b: BtfBuilder) -> dict[str, tuple[int, dict[str, int]]]:
    """Add LOCAL_STRUCTS first (fixed ids): name -> (type id, member -> index)."""
    out = {}
    for name, members in LOCAL_STRUCTS.items():
        ms, off = [], 0
        for mname, ctype, size in members:
            t = b.int_(ctype, size, False)
            ms.append((mname, t, off * 8))
            off += size
        tid = b.struct_(name, ms, off)
        b._cache[("struct", name)] = tid        # kfunc prototypes point at this one too
        out[name] = (tid, {m: i for i, (m, _, _) in enumerate(members)})
    return out


def core_access(field: tuple[str, str]) -> tuple[str, str]:
    """(struct, member) -> (struct name, CO-RE access string)."""
    struct_name, member = field
    idx = [m for m, _, _ in LOCAL_STRUCTS[struct_name]].index(member)
    return struct_name, f"0:{idx}"


def map_def(b: BtfBuilder, m) -> tuple[int, int]:
    """(struct type id, size) of a libbpf map definition for MapSpec ``m``."""
    fields = [("type", m.map_type), ("max_entries", m.max_entries)]
    if m.key_size:
        fields.append(("key_size", m.key_size))
    if m.value_size:
        fields.append(("value_size", m.value_size))
    if m.map_flags:
        fields.append(("map_flags", m.map_flags))
    i = b.int_()
    members = [(n, b.ptr(b.array(i, v)), 64 * k) for k, (n, v) in enumerate(fields)]
    return b.struct_("", members, 8 * len(fields)), 8 * len(fields)


def kfunc(b: BtfBuilder, name: str) -> int:
    ret, params = KFUNC_PROTOS[name]
    proto = b.func_proto(b.ctype(ret), [(f"a{k}", b.ctype(p)) for k, p in enumerate(params)])
    return b.func(name, proto, 2)          # extern
