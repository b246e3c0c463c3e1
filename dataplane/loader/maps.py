"""MapSpecs from an object: BTF-defined ``.maps``, legacy ``maps``, global data.

Decisions (following libbpf):
  * a key/value size of 0 is accepted here; the map-creation step (like the
    kernel at BPF_MAP_CREATE) rejects what a map type does not allow, since
    some types need 0 (ringbuf key/value, prog arrays' BTF-less keys...).
  * an unknown member of a BTF map definition is an error (libbpf strict mode).
  * global data sections become single-element array maps named by
    :func:`internal_map_name`; .rodata* maps are BPF_F_RDONLY_PROG and frozen,
    and any data map holding a non-static variable is BPF_F_MMAPABLE.
"""
from __future__ import annotations

import struct

from dataplane.errors import LoadError

from .btf import Btf, BtfType
from .spec import MapSpec

BPF_OBJ_NAME_LEN = 16
BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_MAP_TYPE_ARRAY_OF_MAPS = 12
BPF_MAP_TYPE_HASH_OF_MAPS = 13
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
BTF_VAR_STATIC = 0

_UINT_MEMBERS = ("type", "max_entries", "map_flags", "numa_node", "key_size",
                 "value_size", "pinning", "map_extra")


def object_name(path_name: str) -> str:
    """libbpf's object name: file basename up to the first '.', at most 15 chars."""
    base = path_name.rsplit("/", 1)[-1]
    return base.split(".", 1)[0][:BPF_OBJ_NAME_LEN - 1]


def internal_map_name(obj_name: str, real_name: str) -> str:
    """Name of a global-data map, computed like libbpf.

    The suffix keeps the section name (at least 7 characters are reserved
    for it, so '.bss' still leaves only 8 for the object prefix); section
    names with a second dot ('.rodata.str1.1', '.data.custom') get no prefix.
    Characters the kernel refuses in names become '_'.
    """
    sfx_len = min(max(7, len(real_name)), BPF_OBJ_NAME_LEN - 1)
    if "." in real_name[1:]:
        pfx_len = 0
    else:
        pfx_len = min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + real_name[:sfx_len])[:BPF_OBJ_NAME_LEN - 1]
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_." else "_" for c in name)


def _uint_member(btf: Btf, t: BtfType, map_name: str, member: str) -> int:
    """__uint(name, val) is `int (*name)[val]`: a pointer to an array of val elements."""
    p = btf.skip_modifiers(t.type)
    if p.kind != "PTR":
        raise LoadError(f"map '{map_name}': member '{member}' is {p.kind}, expected pointer (__uint)")
    a = btf.skip_modifiers(p.type)
    if a.kind != "ARRAY":
        raise LoadError(f"map '{map_name}': member '{member}' points to {a.kind}, expected array (__uint)")
    return a.nelems


def _type_member(btf: Btf, t: BtfType, map_name: str, member: str) -> tuple[int, int]:
    """__type(name, T) is `T *name`: returns (T's id, sizeof(T))."""
    p = btf.skip_modifiers(t.type)
    if p.kind != "PTR":
        raise LoadError(f"map '{map_name}': member '{member}' is {p.kind}, expected pointer (__type)")
    return p.type, btf.resolve_size(p.type)


def parse_btf_map_def(btf: Btf, def_type_id: int, map_name: str, allow_values: bool = True) -> tuple[MapSpec, int | None]:
    """Parse one BTF map definition struct.

    Returns the spec and, for map-in-map / prog arrays declared with
    ``__array(values, ...)``, the byte offset of the ``values`` member
    (its slots carry .rel.maps relocations naming the initial entries).
    """
    st = btf.skip_modifiers(def_type_id)
    if st.kind != "STRUCT":
        raise LoadError(f"map '{map_name}': definition is {st.kind}, expected struct")
    spec = MapSpec(name=map_name, map_type=0, key_size=0, value_size=0, max_entries=0, section=".maps")
    values_off = None
    for m in st.members:
        name = m.name
        if name in _UINT_MEMBERS:
            v = _uint_member(btf, m, map_name, name)
            attr = {"type": "map_type"}.get(name, name)
            setattr(spec, attr, v)
        elif name in ("key", "value"):
            tid, size = _type_member(btf, m, map_name, name)
            if name == "key":
                spec.btf_key_type_id, spec.key_size = tid, size
            else:
                spec.btf_value_type_id, spec.value_size = tid, size
        elif name == "values":
            if not allow_values:
                raise LoadError(f"map '{map_name}': inner map definition cannot have 'values'")
            arr = btf.skip_modifiers(m.type)
            if arr.kind != "ARRAY":
                raise LoadError(f"map '{map_name}': 'values' is {arr.kind}, expected array (__array)")
            ptr = btf.skip_modifiers(arr.elem_type)
            if ptr.kind != "PTR":
                raise LoadError(f"map '{map_name}': 'values' elements are {ptr.kind}, expected pointers")
            target = btf.skip_modifiers(ptr.type)
            values_off = m.offset // 8
            if target.kind == "STRUCT":
                inner, _ = parse_btf_map_def(btf, target.id, map_name + ".inner", allow_values=False)
                spec.inner = inner
            elif target.kind != "FUNC_PROTO":
                raise LoadError(f"map '{map_name}': 'values' must point to a map definition or a function")
            # value of map-in-map / prog array slots is an fd (u32)
            spec.value_size = 4
        else:
            raise LoadError(f"map '{map_name}': unknown field '{name}' in BTF map definition")
    if values_off is not None and spec.map_type not in (
            BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
        raise LoadError(f"map '{map_name}': 'values' is only valid for prog arrays and map-in-map")
    if spec.inner is not None and spec.key_size == 0:
        spec.key_size = 4
    return spec, values_off


def btf_maps(btf: Btf | None, sec_name: str, sec_size: int, symbols: dict[str, tuple[int, int]]) -> list[tuple[MapSpec, int | None]]:
    """All maps of the .maps DATASEC; ``symbols`` maps variable name -> (offset, size)."""
    if btf is None:
        raise LoadError(f"section '{sec_name}': BTF-defined maps need a .BTF section")
    ds = btf.find(sec_name, "DATASEC")
    if ds is None:
        raise LoadError(f"section '{sec_name}': no DATASEC '{sec_name}' in BTF")
    out = []
    for vsi in ds.members:
        var = btf[vsi.type]
        if var.kind != "VAR":
            raise LoadError(f"section '{sec_name}': DATASEC entry {vsi.type} is {var.kind}, expected VAR")
        if var.name not in symbols:
            raise LoadError(f"section '{sec_name}': map '{var.name}' has no ELF symbol")
        off, _size = symbols[var.name]
        spec, values_off = parse_btf_map_def(btf, var.type, var.name)
        spec.sec_offset = off
        out.append((spec, values_off))
    out.sort(key=lambda x: x[0].sec_offset)
    return out


def legacy_maps(data: bytes, sec_name: str, symbols: dict[str, tuple[int, int]]) -> list[MapSpec]:
    """struct bpf_map_def {u32 type, key_size, value_size, max_entries, map_flags} per symbol.

    Definitions may be longer (e.g. iproute2 adds fields): extra bytes must be
    zero, as libbpf requires; shorter than 20 bytes is an error.
    """
    out = []
    for name, (off, size) in sorted(symbols.items(), key=lambda kv: kv[1][0]):
        if size < 20 or off + size > len(data):
            raise LoadError(f"section '{sec_name}': map '{name}' definition has bad size {size} at offset {off}")
        mtype, ks, vs, me, fl = struct.unpack_from("<5I", data, off)
        if any(data[off + 20: off + size]):
            raise LoadError(f"section '{sec_name}': map '{name}' uses unsupported extra bpf_map_def fields")
        out.append(MapSpec(name=name, map_type=mtype, key_size=ks, value_size=vs, max_entries=me,
                           map_flags=fl, section=sec_name, sec_offset=off))
    return out


def data_map(obj_name: str, sec_name: str, contents: bytes, btf: Btf | None) -> MapSpec:
    """A global data section as the single-element array map libbpf makes of it."""
    rodata = sec_name.startswith(".rodata")
    flags = BPF_F_RDONLY_PROG if rodata else 0
    value_id = 0
    if btf is not None:
        ds = btf.find(sec_name, "DATASEC")
        if ds is not None:
            value_id = ds.id
            if any(btf[v.type].kind == "VAR" and btf[v.type].linkage != BTF_VAR_STATIC for v in ds.members):
                flags |= BPF_F_MMAPABLE
    return MapSpec(name=internal_map_name(obj_name, sec_name), map_type=BPF_MAP_TYPE_ARRAY,
                   key_size=4, value_size=len(contents), max_entries=1, map_flags=flags,
                   contents=bytes(contents), btf_value_type_id=value_id, frozen=rodata,
                   readonly=rodata, section=sec_name, internal=True)


def set_inner_template(spec, outer: str, template):
    """A copy of ObjectSpec ``spec`` whose map-in-map ``outer`` uses
    ``template`` (a MapSpec, or the name of another map of the object) as
    its inner map template: libbpf's bpf_map__set_inner_map_fd for outer
    maps declared without ``__array(values, ...)`` (legacy ``bpf_map_def``).
    The same spec then loads in dataplane and, through dataplane.io.kload,
    in the kernel."""
    from dataclasses import replace
    if outer not in spec.maps:
        raise LoadError(f"map '{outer}' not found; object has: {', '.join(sorted(spec.maps)) or 'none'}")
    om = spec.maps[outer]
    if om.map_type not in (BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS):
        raise LoadError(f"map '{outer}': type {om.map_type} is not a map-in-map (array_of_maps, hash_of_maps)")
    if isinstance(template, str):
        if template not in spec.maps:
            raise LoadError(f"inner map template '{template}' for '{outer}' not found; object has: "
                            f"{', '.join(sorted(spec.maps))}")
        template = spec.maps[template]
    inner = replace(template, name=outer + ".inner", init_values={}, contents=None, frozen=False,
                    internal=False, pinning=0)
    maps = dict(spec.maps)
    maps[outer] = replace(om, inner=inner)
    return replace(spec, maps=maps)
