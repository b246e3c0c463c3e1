"""Map references and values as users write them (CLI --map-update, the
replay's MAP:KEY:VALUE, the kernel oracle in dataplane.io.kload).

A map is named by its object name, or for map-in-map by ``OUTER[KEYHEX]``:
the inner map stored at that key of the outer map.  The value of an outer
map (what the kernel takes as an fd, as bpftool's ``value id N`` /
``value name X``) is one of:

    new          a fresh map made from the outer map's inner template
    name:MAP     the object's map MAP
    id:N         the map with id N
    HEX          4 bytes: a map id (what a lookup of the outer map returns)

Other maps' values are hex bytes in the syscall layout, where a token
``prog:NAME`` stands for the 4 bytes of that program's fd (the kernel) or
id (dataplane), as in a CPUMAP or DEVMAP entry's second-level program:
``--map-update cpu_map 00000000 "c0000000 prog:xdp_on_cpu"``.
"""
from __future__ import annotations

import errno
import re
import struct

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError, NotFound

OUTER_TYPES = frozenset({mt.BPF_MAP_TYPE_ARRAY_OF_MAPS, mt.BPF_MAP_TYPE_HASH_OF_MAPS})
_PATH = re.compile(r"^([^\[\]]+)((?:\[[0-9a-fA-F\s:]*\])*)$")


def hexbytes(text, what: str) -> bytes:
    """Hex (spaces, ':' and a 0x prefix allowed) -> bytes; bytes pass through."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    clean = "".join(str(text).split()).replace(":", "")
    if clean.lower().startswith("0x"):
        clean = clean[2:]
    try:
        return bytes.fromhex(clean)
    except ValueError:
        raise DataplaneError(f"{what}: bad hex {text!r}", kind=errno.EINVAL) from None


def prog_refs(text) -> list[str]:
    """Program names a value refers to with prog:NAME tokens."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return []
    return [t[5:] for t in str(text).split() if t.startswith("prog:") and t[5:]]


def value_bytes(text, what: str, prog_handle=None) -> bytes:
    """Hex bytes with prog:NAME tokens replaced by ``prog_handle(NAME)`` (an
    fd or id, as a little-endian s32)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    out = b""
    for tok in str(text).split():
        if tok.startswith("prog:"):
            if prog_handle is None:
                raise DataplaneError(f"{what}: {tok} needs a loaded program", kind=errno.EINVAL)
            out += struct.pack("<i", prog_handle(tok[5:]))
        else:
            out += hexbytes(tok, what)
    return out


def split_path(text: str) -> tuple[str, list[bytes]]:
    """"outer[00000000]" -> ("outer", [b"\\0\\0\\0\\0"]); "m" -> ("m", [])."""
    m = _PATH.match(text.strip())
    if not m:
        raise DataplaneError(f"map {text!r}: expected NAME or OUTER[KEYHEX]", kind=errno.EINVAL)
    keys = [hexbytes(k, f"map {text!r} key") for k in re.findall(r"\[([^\]]*)\]", m.group(2))]
    return m.group(1), keys


def parse_value(text) -> tuple[str, object]:
    """An outer map's value: ("new", None) | ("name", MAP) | ("id", N) | ("bytes", b)."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return "bytes", bytes(text)
    t = str(text).strip()
    if t == "new":
        return "new", None
    if t.startswith("name:") and t[5:]:
        return "name", t[5:]
    if t.startswith("id:"):
        try:
            return "id", int(t[3:], 0)
        except ValueError:
            raise DataplaneError(f"map value {text!r}: bad id", kind=errno.EINVAL) from None
    return "bytes", hexbytes(t, "map value")


def resolve(maps: dict, path: str):
    """The dataplane Map ``path`` names (see the module doc)."""
    name, keys = split_path(path)
    if name not in maps:
        raise NotFound(f"map {name!r} not found; object has: {', '.join(sorted(maps)) or 'none'}")
    m = maps[name]
    for k in keys:
        if m.map_type not in OUTER_TYPES:
            raise DataplaneError(f"map {path!r}: {name} is not a map-in-map", kind=errno.EINVAL)
        inner = m.inner(k) if len(k) == m.key_size else None
        if inner is None:
            raise NotFound(f"map {path!r}: no inner map at key {k.hex()}")
        m = inner
    return m


def update(maps: dict, path: str, key, value, flags: int = 0, programs: dict | None = None):
    """Set one entry of the map ``path`` names, in the syscall's terms
    (queue/stack: push; outer maps: see parse_value; ``programs``: name ->
    id for prog:NAME tokens).  Returns the inner map stored in an outer map
    (a new one for ``new``), else None."""
    from dataplane.maps.core import Map, map_by_id
    m = resolve(maps, path)
    k = hexbytes(key, f"map {path} key") if key is not None else None
    if m.map_type in OUTER_TYPES:
        kind, v = parse_value(value)
        if kind == "new":
            v = m.new_inner(f"{split_path(path)[0][:10]}_in")
        elif kind == "name":
            if v not in maps:
                raise NotFound(f"map {path}: value name:{v}: no map {v!r}")
            v = maps[v]
        elif kind == "id":
            got = map_by_id(v)
            if got is None:
                raise NotFound(f"map {path}: value id:{v}: no map with that id")
            v = got
        m.update(k, v, flags)
        return v

    def handle(name):
        if not programs or name not in programs:
            raise NotFound(f"map {path} value: program {name!r} is not loaded")
        return programs[name]
    v = value_bytes(value, f"map {path} value", handle)
    if m.map_type in (mt.BPF_MAP_TYPE_QUEUE, mt.BPF_MAP_TYPE_STACK):
        m.push(v, flags)
    else:
        if isinstance(m, Map) and m.key_size == 0:
            k = None
        m.update(k, v, flags)
    return None


def dump(maps: dict, no_dump: frozenset = frozenset()) -> dict[str, list[dict[str, str]]]:
    """Every map's entries sorted by key, as {"key": HEX, "value": HEX};
    the inner maps of map-in-map follow as "OUTER[KEYHEX]" (an outer map's
    own values are map ids, which differ between implementations)."""
    out: dict[str, list[dict[str, str]]] = {}
    for name, m in maps.items():
        _dump_one(out, name, m, no_dump)
    return out


def _dump_one(out, name, m, no_dump) -> None:
    if m.map_type in no_dump:
        out[name] = []
        return
    entries = sorted(m.items())
    out[name] = [{"key": k.hex(), "value": v.hex()} for k, v in entries]
    if m.map_type in OUTER_TYPES:
        for k, _v in entries:
            inner = m.inner(k)
            if inner is not None:
                _dump_one(out, f"{name}[{k.hex()}]", inner, no_dump)
