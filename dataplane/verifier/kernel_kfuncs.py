"""Prototypes of the kernel kfuncs dataplane knows about, as the verifier
sees them (net/netfilter/nf_conntrack_bpf.c: flags and argument kinds), and
the layouts of the objects they return.

This is ABI data, like dataplane.abi.helper_protos: whoever implements the
kfuncs at run time (the conntrack package) may pass its own table to
``verify(kfuncs=..., objs=...)``; these are the defaults used when a program
is verified from an object file by name (``dataplane verify``).
"""
from __future__ import annotations

from dataplane.verifier.types import KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, KfuncProto, ObjLayout

# struct nf_conn in the 6.18 kernel's BTF (offsets in bytes).  Only the
# members a BPF program can reasonably name are listed; reads anywhere in
# the 248 bytes are allowed, as btf_struct_access allows.
NF_CONN_FIELDS = (
    ("ct_general", 0, 4), ("lock", 4, 4), ("timeout", 8, 4), ("zone", 12, 4),
    ("tuplehash", 16, 112), ("status", 128, 8), ("ct_net", 136, 8), ("nat_bysource", 144, 16),
    ("master", 160, 8), ("mark", 168, 4), ("secmark", 172, 4), ("ext", 176, 8), ("proto", 184, 64),
)
NF_CONN = ObjLayout("nf_conn", 248, NF_CONN_FIELDS, ((168, 4),))
# An allocated, not yet inserted entry: bpf_nf_conn_btf_struct_access only
# lets programs write nf_conn itself, so nf_conn___init is read-only.
NF_CONN_INIT = ObjLayout("nf_conn___init", 248, NF_CONN_FIELDS, ())

OBJS = {NF_CONN.name: NF_CONN, NF_CONN_INIT.name: NF_CONN_INIT}

_LOOKUP_ARGS = ("ctx", "mem", "size", "mem", "size")
# net/core/filter.c, kernel/bpf/helpers.c: the XDP dynptr kfuncs
# (ptr__uninit, buffer__opt + buffer__szk argument kinds; slices are
# PTR_TO_MEM of the constant size, MEM_RDONLY for bpf_dynptr_slice)
_DYN_SLICE_ARGS = ("dynptr", "scalar", "mem_opt", "szk")
DYNPTR_KFUNCS = (
    KfuncProto("bpf_dynptr_from_xdp", 0, ("ctx", "scalar", "dynptr_uninit:xdp"), "scalar"),
    KfuncProto("bpf_dynptr_slice", KF_RET_NULL, _DYN_SLICE_ARGS, "dynptr_ro"),
    KfuncProto("bpf_dynptr_slice_rdwr", KF_RET_NULL, _DYN_SLICE_ARGS, "dynptr_rw"),
)

KFUNCS = {p.name: p for p in DYNPTR_KFUNCS + (
    KfuncProto("bpf_xdp_ct_lookup", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, "obj:nf_conn"),
    KfuncProto("bpf_skb_ct_lookup", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, "obj:nf_conn"),
    KfuncProto("bpf_xdp_ct_alloc", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, "obj:nf_conn___init"),
    KfuncProto("bpf_skb_ct_alloc", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, "obj:nf_conn___init"),
    KfuncProto("bpf_ct_insert_entry", KF_ACQUIRE | KF_RET_NULL | KF_RELEASE, ("obj:nf_conn___init",),
               "obj:nf_conn"),
    KfuncProto("bpf_ct_release", KF_RELEASE, ("obj:nf_conn",), "void"),
    KfuncProto("bpf_ct_set_timeout", KF_TRUSTED_ARGS, ("obj:nf_conn___init", "scalar"), "void"),
    KfuncProto("bpf_ct_change_timeout", KF_TRUSTED_ARGS, ("obj:nf_conn", "scalar"), "scalar"),
    KfuncProto("bpf_ct_set_status", KF_TRUSTED_ARGS, ("obj:nf_conn___init", "scalar"), "scalar"),
    KfuncProto("bpf_ct_change_status", KF_TRUSTED_ARGS, ("obj:nf_conn", "scalar"), "scalar"),
)}
