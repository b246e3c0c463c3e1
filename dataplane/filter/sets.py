"""ipsets as BPF maps: the map shape of each set type, the entries to fill
it with, and the code that builds a packet's lookup key.

  hash:ip        HASH      key: addr (network order)                 value: u32 1
  hash:net       LPM_TRIE  key: {prefixlen, addr}                     value: 1, 0 = nomatch
  hash:ip,port   HASH      key: {addr, proto << 16 | port}            value: u32 1
  hash:net,port  LPM_TRIE  key: {prefixlen, proto << 16 | port, addr} value: 1, 0 = nomatch

Ports are host order inside the u32 word (the program and this module
write the same word); only TCP and UDP packets that are not non-first
fragments have a port (ipset's ip_set_get_ip4_port).
"""
from __future__ import annotations

import struct

from dataplane.abi import maps as MT
from dataplane.filter.emit import R1, R2, R10, Emitter, Label
from dataplane.filter.prologue import F_DADDR, F_DPORT, F_L4, F_PROTO, F_SADDR, F_SPORT, KEY, L4_OK
from dataplane.isa import opcodes as op
from dataplane.loader.spec import MapSpec

LPM_NO_PREALLOC = 1           # BPF_F_NO_PREALLOC: LPM tries require it


def set_map_spec(name: str, s) -> MapSpec:
    n = max(len(s.entries), 1)
    if s.type == "hash:ip":
        return MapSpec(name, MT.BPF_MAP_TYPE_HASH, 4, 4, n)
    if s.type == "hash:ip,port":
        return MapSpec(name, MT.BPF_MAP_TYPE_HASH, 8, 4, n)
    if s.type == "hash:net":
        return MapSpec(name, MT.BPF_MAP_TYPE_LPM_TRIE, 8, 4, n, map_flags=LPM_NO_PREALLOC)
    return MapSpec(name, MT.BPF_MAP_TYPE_LPM_TRIE, 12, 4, n, map_flags=LPM_NO_PREALLOC)


def set_entries(s) -> list[tuple[bytes, bytes]]:
    out = []
    for key, nomatch in s.entries.items():
        val = struct.pack("<I", 0 if nomatch else 1)
        if s.type == "hash:ip":
            out.append((struct.pack(">I", key), val))
        elif s.type == "hash:net":
            addr, plen = key
            out.append((struct.pack("<I", plen) + struct.pack(">I", addr), val))
        elif s.type == "hash:ip,port":
            addr, proto, port = key
            out.append((struct.pack(">I", addr) + struct.pack("<I", proto << 16 | port), val))
        else:
            (addr, plen), proto, port = key
            out.append((struct.pack("<I", 32 + plen) + struct.pack("<I", proto << 16 | port)
                        + struct.pack(">I", addr), val))
    return out


def emit_set_key(e: Emitter, s, dirs: tuple, nokey: Label) -> None:
    """Write the packet's key for set ``s`` at KEY; jump to ``nokey`` if it has none.
    Fewer directions than the set has dimensions never match (ip_set_test)."""
    if len(dirs) < s.dims():
        e.ja(nokey)
        return
    addr_slot = F_SADDR if dirs[0] == "src" else F_DADDR
    off = KEY
    if s.is_net:
        e.st(4, R10, KEY, 64 if s.has_port else 32)
        off += 4
    port_word_at = off if s.has_port else None
    addr_at = off + 4 if (s.has_port and s.is_net) else off
    if s.has_port and not s.is_net:
        addr_at, port_word_at = off, off + 4
    e.ldx(4, R1, R10, addr_slot)
    e.stx(4, R10, addr_at, R1)
    if s.has_port:
        e.ldx(4, R1, R10, F_L4)
        e.jmp(op.BPF_JNE, R1, nokey, imm=L4_OK)
        e.ldx(4, R1, R10, F_PROTO)
        ok = Label("setproto")
        e.jmp(op.BPF_JEQ, R1, ok, imm=6)
        e.jmp(op.BPF_JNE, R1, nokey, imm=17)
        e.bind(ok)
        e.alu(op.BPF_LSH, R1, 16)
        e.ldx(4, R2, R10, F_SPORT if dirs[1] == "src" else F_DPORT)
        e.alu(op.BPF_OR, R1, src=R2)
        e.stx(4, R10, port_word_at, R1)
