"""Group lookups: the key a group's map is indexed by, built the same way
by the program (from the packet's stack slots) and by the translator
(from each rule's values).

A key is one u32 word per exact field in Group.fields order — addresses in
network byte order, ports/protocol/ifindex host order — and, for an LPM
group, ``{prefixlen, words..., address}`` with the prefix field last and
prefixlen = 32 * words + the rule's prefix length.
"""
from __future__ import annotations

import struct

from dataplane.abi import maps as MT
from dataplane.filter.emit import R1, R10, Emitter, Label
from dataplane.filter.prologue import (F_DADDR, F_DPORT, F_IIF, F_L4, F_PROTO, F_SADDR, F_SPORT, KEY,
                                       L4_OK, L4_TRUNC)
from dataplane.isa import opcodes as op
from dataplane.loader.spec import MapSpec

SLOTS = {"saddr": F_SADDR, "daddr": F_DADDR, "sport": F_SPORT, "dport": F_DPORT,
         "proto": F_PROTO, "iif": F_IIF}
_NET = ("saddr", "daddr")


def group_map_spec(g, n_entries: int) -> MapSpec:
    ks = 4 * g.key_words() + (4 if g.lpm else 0)
    if g.lpm:
        return MapSpec(g.map_name, MT.BPF_MAP_TYPE_LPM_TRIE, ks, 8, max(n_entries, 1), map_flags=1)
    return MapSpec(g.map_name, MT.BPF_MAP_TYPE_HASH, ks, 8, max(n_entries, 1))


def emit_group_key(e: Emitter, g, miss: Label, hotdrop: Label) -> None:
    if g.needs_l4:
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JEQ, R1, hotdrop, imm=L4_TRUNC)
        e.jmp(op.BPF_JNE, R1, miss, imm=L4_OK)
    off = KEY
    if g.lpm:
        e.st(4, R10, off, 32 * len(g.fields) + 32)
        off += 4
    for f in g.fields + ((g.lpm,) if g.lpm else ()):
        e.ldx(4, R1, R10, SLOTS[f])
        e.stx(4, R10, off, R1)
        off += 4


def group_key_bytes(g, vals: dict, plen: int) -> bytes | None:
    """The map key of one rule of the group (None: it can never match)."""
    words = []
    for f in g.fields:
        v = vals[f]
        if v is None:                     # an interface this hook does not have
            return None
        words.append(struct.pack(">I", v) if f in _NET else struct.pack("<I", v))
    if g.lpm:
        return struct.pack("<I", 32 * len(g.fields) + plen) + b"".join(words) + \
            struct.pack(">I", vals[g.lpm])
    return b"".join(words)
