"""Program context layouts (``struct xdp_md``, ``struct __sk_buff``) and the
kernel's rules for which fields a program type may read or write.

Offsets follow include/uapi/linux/bpf.h; the access rules follow
net/core/filter.c (xdp_is_valid_access, sk_filter_is_valid_access,
tc_cls_act_is_valid_access, bpf_skb_is_valid_access).  The verifier asks
:func:`ctx_access`; the loader/JIT use the field tables to rewrite ctx loads.
"""
from __future__ import annotations

from dataclasses import dataclass

# Field kinds: what a load of the field yields.
SCALAR = "scalar"
PKT = "pkt"
PKT_END = "pkt_end"
PKT_META = "pkt_meta"


@dataclass(frozen=True)
class CtxField:
    name: str
    off: int
    size: int
    kind: str = SCALAR


XDP_MD = (
    CtxField("data", 0, 4, PKT),
    CtxField("data_end", 4, 4, PKT_END),
    CtxField("data_meta", 8, 4, PKT_META),
    CtxField("ingress_ifindex", 12, 4),
    CtxField("rx_queue_index", 16, 4),
    CtxField("egress_ifindex", 20, 4),
)
XDP_MD_SIZE = 24

SK_BUFF = (
    CtxField("len", 0, 4), CtxField("pkt_type", 4, 4), CtxField("mark", 8, 4),
    CtxField("queue_mapping", 12, 4), CtxField("protocol", 16, 4), CtxField("vlan_present", 20, 4),
    CtxField("vlan_tci", 24, 4), CtxField("vlan_proto", 28, 4), CtxField("priority", 32, 4),
    CtxField("ingress_ifindex", 36, 4), CtxField("ifindex", 40, 4), CtxField("tc_index", 44, 4),
    CtxField("cb", 48, 20), CtxField("hash", 68, 4), CtxField("tc_classid", 72, 4),
    CtxField("data", 76, 4, PKT), CtxField("data_end", 80, 4, PKT_END), CtxField("napi_id", 84, 4),
    CtxField("family", 88, 4), CtxField("remote_ip4", 92, 4), CtxField("local_ip4", 96, 4),
    CtxField("remote_ip6", 100, 16), CtxField("local_ip6", 116, 16), CtxField("remote_port", 132, 4),
    CtxField("local_port", 136, 4), CtxField("data_meta", 140, 4, PKT_META),
    CtxField("flow_keys", 144, 8), CtxField("tstamp", 152, 8), CtxField("wire_len", 160, 4),
    CtxField("gso_segs", 164, 4), CtxField("sk", 168, 8), CtxField("gso_size", 176, 4),
    CtxField("tstamp_type", 180, 1), CtxField("hwtstamp", 184, 8),
)
SK_BUFF_SIZE = 192

CTX_SIZE = {"xdp": XDP_MD_SIZE, "socket": SK_BUFF_SIZE, "tc": SK_BUFF_SIZE}


def field_at(fields, off: int) -> CtxField | None:
    for f in fields:
        if f.off <= off < f.off + f.size:
            return f
    return None


def _xdp(off: int, size: int, write: bool):
    if off < 0 or off >= XDP_MD_SIZE or off % size or write or size != 4:
        return None
    f = field_at(XDP_MD, off)
    if f.name == "egress_ifindex":  # only for BPF_XDP_DEVMAP programs
        return None
    return f


def _skb_common(off: int, size: int, write: bool):
    """bpf_skb_is_valid_access."""
    if off < 0 or off >= SK_BUFF_SIZE or off % size:
        return None
    f = field_at(SK_BUFF, off)
    if f is None:
        return None
    if f.name == "cb":
        return f if off + size <= 68 else None
    if f.name in ("remote_ip6", "local_ip6", "remote_ip4", "local_ip4", "data", "data_meta", "data_end"):
        return f if size == 4 else None
    if f.name in ("flow_keys", "tstamp_type"):
        return None
    if f.name in ("hwtstamp", "sk"):
        return f if not write and size == 8 else None
    if f.name == "tstamp":
        return f if size == 8 else None
    if write:
        return f if size == 4 else None
    # narrow reads of u32 fields are fine at power-of-two sizes
    return f if size <= 4 and size & (size - 1) == 0 else None


_SOCKET_DENY = {"tc_classid", "data", "data_meta", "data_end", "family", "remote_ip4", "local_ip4",
                "remote_ip6", "local_ip6", "remote_port", "local_port", "tstamp", "wire_len", "hwtstamp"}
_TC_WRITABLE = {"mark", "tc_index", "priority", "cb", "tc_classid", "queue_mapping", "tstamp"}
_TC_DENY = {"family", "remote_ip4", "local_ip4", "remote_ip6", "local_ip6", "remote_port", "local_port"}


def ctx_access(prog_type: str, off: int, size: int, write: bool) -> CtxField | None:
    """The field a ctx access touches if the program type allows it, else None."""
    if prog_type == "xdp":
        return _xdp(off, size, write)
    if prog_type in ("socket", "tc"):
        f = field_at(SK_BUFF, off) if 0 <= off < SK_BUFF_SIZE else None
        if f is None:
            return None
        if prog_type == "socket":
            if f.name in _SOCKET_DENY or (write and f.name != "cb"):
                return None
        else:
            if f.name in _TC_DENY or (write and f.name not in _TC_WRITABLE):
                return None
        return _skb_common(off, size, write)
    return None
