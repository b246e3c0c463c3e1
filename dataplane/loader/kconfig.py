"""``extern ... __kconfig`` variables, resolved the way libbpf does.

A program declares e.g. ``extern unsigned long CONFIG_HZ __kconfig;`` and
reads it like a global. libbpf gives every such extern a slot in one
read-only internal map, ``<obj>.kconfig`` (an ARRAY of one value, frozen,
BPF_F_RDONLY_PROG), filled from the running kernel's config
(/proc/config.gz, else /boot/config-$(uname -r)) plus the values libbpf
computes itself (``LINUX_KERNEL_VERSION``); each ``lddw`` of an extern
becomes a map-value load of its slot (src=BPF_PSEUDO_MAP_VALUE, second imm =
offset).

:func:`resolve_kconfig` does exactly that to an ObjectSpec, as a pure
rewrite: a new MapSpec plus MAP_VALUE relocations. Both the kernel loader
(dataplane.io.kload) and the runtime (Collection) apply it, so the same
program sees the same values in both. :func:`parse_kernel_config` is the
pure parser of a kernel .config text; :func:`kernel_config` reads the
running kernel's.

Slot layout is libbpf's (cmp_externs): larger alignment first, then smaller
size first, then by name; each slot aligned to its type's alignment.

:func:`hz` is the kernel's CONFIG_HZ. dataplane's jiffies (bpf_jiffies64,
set by dataplane.runtime.helpers at import, and nf_conn->timeout of the
conntrack table) tick at that rate, so a program's ``ct->timeout -
bpf_jiffies64()`` divided by CONFIG_HZ gives seconds in both.
"""
from __future__ import annotations

import errno

import gzip
import os
import struct
from dataclasses import replace
from functools import lru_cache

from dataplane.abi.pseudo import BPF_PSEUDO_MAP_VALUE
from dataplane.errors import LoadError
from dataplane.loader import spec as S
from dataplane.loader.maps import internal_map_name

KCONFIG_SEC = ".kconfig"
BPF_F_RDONLY_PROG = 1 << 7
DEFAULT_HZ = 250          # Kconfig's default HZ, when the config cannot be read


def parse_kernel_config(text: str) -> dict[str, str]:
    """CONFIG_* -> raw value ("y", "m", "250", '"str"') of a kernel .config text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


@lru_cache(maxsize=1)
def kernel_config() -> dict[str, str]:
    """The running kernel's config ({} if unreadable): /proc/config.gz, else /boot/config-$(uname -r)."""
    paths = ["/proc/config.gz", f"/boot/config-{os.uname().release}"]
    for p in paths:
        try:
            with (gzip.open(p) if p.endswith(".gz") else open(p, "rb")) as f:
                data = f.read()
        except OSError:
            continue
        return parse_kernel_config(data.decode(errors="replace"))
    return {}


def kernel_version_code() -> int:
    """KERNEL_VERSION(a, b, c) of uname -r (patch capped at 255, as libbpf does)."""
    parts = (os.uname().release.split("-")[0].split(".") + ["0", "0"])[:3]
    a, b, c = (int("".join(ch for ch in x if ch.isdigit()) or 0) for x in parts)
    return (a << 16) + (b << 8) + min(c, 255)


def hz(config: dict[str, str] | None = None) -> int:
    """CONFIG_HZ of ``config`` (default: the running kernel's)."""
    try:
        return int((kernel_config() if config is None else config).get("CONFIG_HZ", DEFAULT_HZ))
    except ValueError:
        return DEFAULT_HZ


def kconfig_values() -> dict[str, str]:
    """Everything a __kconfig extern can name: the config plus libbpf's own."""
    vals = dict(kernel_config())
    vals["LINUX_KERNEL_VERSION"] = str(kernel_version_code())
    vals.setdefault("CONFIG_HZ", str(hz()))
    return vals


# ---------------------------------------------------------------- layout

# An array map's value is at most KMALLOC_MAX_SIZE (4 MiB on x86-64) in the
# kernel (array_map_alloc_check: E2BIG); the .kconfig map is one.
MAX_KCONFIG_BYTES = 4 << 20

def _scalar(btf, tid):
    """(kind, size, align, is_char_array) of an extern's type."""
    t = btf[tid]
    while t.kind in ("TYPEDEF", "VOLATILE", "CONST", "RESTRICT", "TYPE_TAG"):
        t = btf[t.type]
    if t.kind == "ARRAY":
        size = btf.resolve_size(tid)
        if size > MAX_KCONFIG_BYTES:
            # a corrupted nelems must not become a multi-GB allocation before the load fails
            raise LoadError(f"extern (kcfg) array of {size} bytes: the .kconfig map value is limited to "
                            f"{MAX_KCONFIG_BYTES} bytes (the kernel's KMALLOC_MAX_SIZE for an array map value)",
                            kind=errno.E2BIG)
        return "chars", size, 1
    if t.kind in ("ENUM", "ENUM64"):
        return "enum", t.size, t.size
    if t.kind == "INT":
        # libbpf's find_kcfg_type: 1-byte BTF_INT_BOOL is bool, BTF_INT_CHAR char
        kind = "int"
        if t.size == 1 and t.int_encoding & 4:
            kind = "bool"
        elif t.size == 1 and t.int_encoding & 2:
            kind = "char"
        return kind, t.size, t.size
    raise LoadError(f"extern (kcfg) of unsupported BTF kind {t.kind}")


def _encode(name: str, raw: str, kind: str, size: int) -> bytes:
    if kind == "chars":
        if not (raw.startswith('"') and raw.endswith('"')):
            raise LoadError(f"extern (kcfg) '{name}': value '{raw}' is not a string")
        s = raw[1:-1].encode()[:size - 1]
        return s.ljust(size, b"\0")
    if raw in ("y", "m", "n"):
        # bool: y 1, n 0 (m refused); tristate (enum libbpf_tristate): n 0, y 1,
        # m 2; char: the letter itself; integers: refused (as libbpf)
        if kind == "char":
            return raw.encode()
        if kind == "int" or (kind == "bool" and raw == "m"):
            raise LoadError(f"extern (kcfg) '{name}': value '{raw}' where {kind} expected")
        v = {"n": 0, "y": 1, "m": 2}[raw]
        return v.to_bytes(size, "little")
    try:
        v = int(raw, 0)
    except ValueError:
        raise LoadError(f"extern (kcfg) '{name}': value '{raw}' is not a number") from None
    if not -(1 << (8 * size - 1)) <= v < (1 << (8 * size)):
        raise LoadError(f"extern (kcfg) '{name}': value {v} does not fit {size} bytes")
    return (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def kconfig_layout(spec: S.ObjectSpec, values: dict[str, str] | None = None):
    """[(name, offset, bytes)] in libbpf's order, and the value size; ([], 0) without externs."""
    btf = spec.btf
    ds = btf.find(KCONFIG_SEC, "DATASEC") if btf is not None else None
    if ds is None:
        return [], 0
    vals = kconfig_values() if values is None else values
    ext = []
    for m in ds.members:
        var = btf[m.type]
        kind, size, align = _scalar(btf, var.type)
        ext.append((-align, size, var.name, kind))
    ext.sort()
    out, off = [], 0
    for negalign, size, name, kind in ext:
        off = (off + (-negalign) - 1) // (-negalign) * (-negalign)
        if off + size > MAX_KCONFIG_BYTES:
            raise LoadError(f"extern (kcfg) '{name[:64]}': the .kconfig map value would be over "
                            f"{MAX_KCONFIG_BYTES} bytes (the kernel's KMALLOC_MAX_SIZE)", kind=errno.E2BIG)
        if name not in vals:
            if spec.extern_bindings.get(name) == "STB_WEAK":   # __weak: a missing value reads 0
                out.append((name, off, bytes(size)))
                off += size
                continue
            raise LoadError(f"extern (kcfg) '{name}': value not found (not in the kernel config)")
        out.append((name, off, _encode(name, vals[name], kind, size)))
        off += size
    return out, off


def resolve_kconfig(spec: S.ObjectSpec, values: dict[str, str] | None = None) -> S.ObjectSpec:
    """The spec with its ``.kconfig`` externs turned into loads from a
    read-only internal map (unchanged when it has none)."""
    if not any(r.kind == S.KCONFIG for p in spec.programs.values() for r in p.relocations):
        return spec
    slots, size = kconfig_layout(spec, values)
    where = {name: off for name, off, _ in slots}
    contents = bytearray(size)
    for _, off, b in slots:
        contents[off:off + len(b)] = b
    mname = internal_map_name(spec.name, KCONFIG_SEC)
    mspec = S.MapSpec(name=mname, map_type=2, key_size=4, value_size=size, max_entries=1,
                      map_flags=BPF_F_RDONLY_PROG, contents=bytes(contents), btf_value_type_id=0,
                      frozen=True, readonly=True, section=KCONFIG_SEC, internal=True)
    progs = {}
    for pname, p in spec.programs.items():
        code = bytearray(p.insns)
        relos = []
        for r in p.relocations:
            if r.kind != S.KCONFIG:
                relos.append(r)
                continue
            off = where[r.symbol]
            at = r.insn_index * S.INSN_SIZE
            code[at + 1] = (code[at + 1] & 0x0F) | (BPF_PSEUDO_MAP_VALUE << 4)
            struct.pack_into("<i", code, at + 4, 0)
            struct.pack_into("<i", code, at + 12, off)
            relos.append(S.Relocation(r.insn_index, S.MAP_VALUE, r.symbol, mname, off))
        progs[pname] = replace(p, insns=bytes(code), relocations=relos)
    maps = dict(spec.maps)
    maps[mname] = mspec
    offsets = dict(spec.symbol_offsets)
    offsets.update(where)
    sizes = dict(spec.section_sizes)
    sizes[KCONFIG_SEC] = size
    return replace(spec, programs=progs, maps=maps, symbol_offsets=offsets, section_sizes=sizes)
