"""The runtime's own BTF: the kernel structs programs may see, with
dataplane's layouts (CO-RE relocations are resolved against these, as
libbpf resolves them against vmlinux BTF for the kernel).

struct nf_conn here is dataplane/conntrack/csrc/conntrack.h's struct
dp_nf_conn: ``ct_general`` (the refcount, {use}) at 0, ``timeout`` (u32
absolute jiffies at the kernel's CONFIG_HZ) at 4, ``status`` (unsigned long) at 8, ``mark`` at 16.
``struct bpf_ct_opts`` is the 16-byte 6.18 layout; ``struct bpf_sock_tuple``
the uapi one (an anonymous union of ipv4/ipv6).
"""
from __future__ import annotations

from functools import lru_cache

from dataplane.loader.btf import Btf, BtfType, Member

NF_CONN_SIZE = 176


@lru_cache(maxsize=1)
def runtime_btf() -> Btf:
    T = []

    def add(kind, name="", **kw) -> int:
        T.append(BtfType(id=len(T) + 1, kind=kind, name=name, **kw))
        return len(T)

    def struct(name, size, members, kind="STRUCT") -> int:
        ms = tuple(Member(n, t, off) for n, t, off in members)
        return add(kind, name, size=size, vlen=len(ms), members=ms)

    u8 = add("INT", "unsigned char", size=1, int_bits=8)
    u16 = add("INT", "short unsigned int", size=2, int_bits=16)
    u32 = add("INT", "unsigned int", size=4, int_bits=32)
    s32 = add("INT", "int", size=4, int_bits=32, int_encoding=1)
    ulong = add("INT", "long unsigned int", size=8, int_bits=64)
    nfct = struct("nf_conntrack", 4, [("use", u32, 0)])
    struct("nf_conn", NF_CONN_SIZE, [("ct_general", nfct, 0), ("timeout", u32, 32), ("status", ulong, 64),
                                     ("mark", u32, 128)])
    u8x3 = add("ARRAY", elem_type=u8, index_type=u32, nelems=3)
    struct("bpf_ct_opts", 16, [("netns_id", s32, 0), ("error", s32, 32), ("l4proto", u8, 64), ("dir", u8, 72),
                               ("ct_zone_id", u16, 80), ("ct_zone_dir", u8, 96), ("reserved", u8x3, 104)])
    v4 = struct("", 12, [("saddr", u32, 0), ("daddr", u32, 32), ("sport", u16, 64), ("dport", u16, 80)])
    u32x4 = add("ARRAY", elem_type=u32, index_type=u32, nelems=4)
    v6 = struct("", 36, [("saddr", u32x4, 0), ("daddr", u32x4, 128), ("sport", u16, 256), ("dport", u16, 272)])
    un = struct("", 36, [("ipv4", v4, 0), ("ipv6", v6, 0)], kind="UNION")
    struct("bpf_sock_tuple", 36, [("", un, 0)])
    return Btf(raw=b"", types=[BtfType(0, "UNKN", "")] + T, strings=b"\0")
