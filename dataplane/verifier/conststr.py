"""Constant strings helpers take (ARG_PTR_TO_CONST_STR: bpf_strncmp's s2,
bpf_snprintf's fmt): the kernel's check_reg_const_str.

The string must lie in a map whose bytes cannot change after loading -- a
BPF_F_RDONLY_PROG map that was frozen (bpf_map_is_rdonly: libbpf's
``.rodata`` maps) -- at a constant offset, in a map type with direct value
access (a single-element array), and be NUL-terminated within the value.
The verifier reads the string itself, so bpf_snprintf's format can be
checked before the program runs (bprintf.check).
"""
from __future__ import annotations

from dataplane.abi import maps as mt
from dataplane.verifier import scalar
from dataplane.verifier.reg import MAP_VALUE


def _rdonly(m) -> bool:
    return bool(m.flags & mt.BPF_F_RDONLY_PROG) and m.frozen


def check(v, st, regno: int, r) -> bytes:
    """Fail unless R``regno`` points to a constant NUL-terminated string;
    return the string's bytes (without the NUL)."""
    if r.t != MAP_VALUE:
        v.fail(f"R{regno} type={r.type_str()} expected=map_value")
    m = v.maps[r.map]
    if not _rdonly(m):
        v.fail(f"R{regno} does not point to a readonly map'")
    if not r.is_const():
        v.fail(f"R{regno} is not a constant address'")
    if m.map_type != mt.BPF_MAP_TYPE_ARRAY:
        v.fail("no direct value access support for this map type")
    # check_map_access of the rest of the value from the fixed offset
    v._check_region(regno, r, r.off, m.value_size - r.off, m.value_size, "map value")
    off = r.off + scalar.to_signed(r.val, 64)
    if m.max_entries != 1 or off < 0 or off >= m.value_size or m.contents is None:
        # array_map_direct_value_addr: one element, offset inside the value
        v.fail("direct value access on string failed")
    data = m.contents[off:m.value_size]
    nul = data.find(b"\0")
    if nul < 0:
        v.fail("string is not zero-terminated")
    return bytes(data[:nul])
