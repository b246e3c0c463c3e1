"""The kfunc registry: what a program's ``extern ... __ksym`` functions
resolve to in this runtime (libbpf resolves them against vmlinux BTF).

A kfunc has a name (the kernel's), an index (the ``imm`` the linker writes
into ``call src=2``, a slot of the kfunc HelperTable the engines call
through ``env->kfuncs``), a C implementation, and a prototype the verifier
checks (:class:`dataplane.verifier.types.KfuncProto`: argument kinds with
``mem``/``size`` pairs for the kernel's ``__sz`` arguments, and the
kernel's KF_* flags). Objects kfuncs hand out are described by
:class:`~dataplane.verifier.types.ObjLayout` (``objs()``): programs may read
the listed fields and write only ``mark``, as the kernel's
nf_conntrack_btf_struct_access allows.

Flags, names, signatures and flag sets are Linux 6.18's
(net/netfilter/nf_conntrack_bpf.c, nf_nat_bpf.c; the XDP dynptr kfuncs of
net/core/filter.c and kernel/bpf/helpers.c).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dataplane.errors import LoadError
from dataplane.verifier.types import KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, KfuncProto, ObjLayout

__all__ = ["KF_ACQUIRE", "KF_RELEASE", "KF_RET_NULL", "KF_TRUSTED_ARGS", "Kfunc", "KfuncRegistry",
           "default_registry", "NF_CONN_LAYOUT"]

assert (KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS) == (1, 2, 4, 16)

_LOOKUP_ARGS = ("ctx", "mem", "size", "mem", "size")   # ctx, bpf_tuple, tuple__sz, opts, opts__sz
_CONN = "obj:nf_conn"
_INIT = "obj:nf_conn___init"                           # an allocated, not yet inserted entry


@dataclass(frozen=True)
class Kfunc:
    name: str
    native_id: int          # enum dp_kf_id in csrc/ct_kfuncs.h (family "ct")
    proto: KfuncProto
    family: str = "ct"      # "ct": conntrack (ct_kfuncs), "dynptr": runtime/csrc/kfuncs_dynptr.c


# In enum dp_kf_id order; the index of a kfunc in a registry is its position.
CONNTRACK_KFUNCS = (
    Kfunc("bpf_xdp_ct_lookup", 0, KfuncProto("bpf_xdp_ct_lookup", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, _CONN)),
    Kfunc("bpf_skb_ct_lookup", 1, KfuncProto("bpf_skb_ct_lookup", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, _CONN)),
    Kfunc("bpf_xdp_ct_alloc", 2, KfuncProto("bpf_xdp_ct_alloc", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, _INIT)),
    Kfunc("bpf_skb_ct_alloc", 3, KfuncProto("bpf_skb_ct_alloc", KF_ACQUIRE | KF_RET_NULL, _LOOKUP_ARGS, _INIT)),
    Kfunc("bpf_ct_insert_entry", 4, KfuncProto("bpf_ct_insert_entry", KF_ACQUIRE | KF_RET_NULL | KF_RELEASE,
                                               (_INIT,), _CONN)),
    Kfunc("bpf_ct_release", 5, KfuncProto("bpf_ct_release", KF_RELEASE, (_CONN,), "void")),
    Kfunc("bpf_ct_set_timeout", 6, KfuncProto("bpf_ct_set_timeout", KF_TRUSTED_ARGS, (_INIT, "scalar"), "void")),
    Kfunc("bpf_ct_change_timeout", 7, KfuncProto("bpf_ct_change_timeout", KF_TRUSTED_ARGS, (_CONN, "scalar"), "scalar")),
    Kfunc("bpf_ct_set_status", 8, KfuncProto("bpf_ct_set_status", KF_TRUSTED_ARGS, (_INIT, "scalar"), "scalar")),
    Kfunc("bpf_ct_change_status", 9, KfuncProto("bpf_ct_change_status", KF_TRUSTED_ARGS, (_CONN, "scalar"), "scalar")),
    # (nfct, union nf_inet_addr *addr (16 bytes), int port, enum nf_nat_manip_type manip)
    Kfunc("bpf_ct_set_nat_info", 10, KfuncProto("bpf_ct_set_nat_info", KF_TRUSTED_ARGS,
                                                (_INIT, "mem", "scalar", "scalar"), "scalar")),
)

# The XDP dynptr kfuncs (runtime/csrc/kfuncs_dynptr.c), with the kernel's prototypes
from dataplane.verifier.kernel_kfuncs import DYNPTR_KFUNCS as _DYNPTR_PROTOS  # noqa: E402

DYNPTR_KFUNCS = tuple(Kfunc(p.name, i, p, "dynptr") for i, p in enumerate(_DYNPTR_PROTOS))
CT_NAMES = frozenset(k.name for k in CONNTRACK_KFUNCS)

# struct dp_nf_conn as programs see it (dataplane/conntrack/csrc/conntrack.h):
# the first 24 bytes are readable, only mark is writable.
_NF_CONN_FIELDS = (("ct_general", 0, 4), ("timeout", 4, 4), ("status", 8, 8), ("mark", 16, 4))
NF_CONN_LAYOUT = ObjLayout("nf_conn", 24, _NF_CONN_FIELDS, ((16, 4),))
NF_CONN_INIT_LAYOUT = ObjLayout("nf_conn___init", 24, _NF_CONN_FIELDS, ((16, 4),))


class KfuncRegistry:
    """A set of kfuncs at fixed indices: what Collection links against."""

    def __init__(self, kfuncs=CONNTRACK_KFUNCS + DYNPTR_KFUNCS):
        self.kfuncs = tuple(kfuncs)
        self._by_name = {k.name: i for i, k in enumerate(self.kfuncs)}
        self._table = None

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def names(self) -> list[str]:
        return [k.name for k in self.kfuncs]

    def resolve(self, name: str) -> int:
        """The index of kfunc ``name``; LoadError naming it when unknown."""
        if name not in self._by_name:
            raise LoadError(f"kfunc '{name}' is not provided by dataplane (known: {', '.join(self.names())})")
        return self._by_name[name]

    def indices(self) -> dict[str, int]:
        """name -> index (``Collection.load(kfuncs=...)``)."""
        return dict(self._by_name)

    def table(self):
        """The HelperTable of C implementations, by index (built once)."""
        if self._table is None:
            from dataplane.kfuncs.ct_kfuncs import install
            from dataplane.runtime.helpers import install_dynptr_kfuncs
            from dataplane.runtime.interp import HelperTable
            t = HelperTable()
            install(t, {k.native_id: i for i, k in enumerate(self.kfuncs) if k.family == "ct"})
            install_dynptr_kfuncs(t, {k.name: i for i, k in enumerate(self.kfuncs) if k.family == "dynptr"})
            self._table = t
        return self._table

    def protos(self) -> dict[int, KfuncProto]:
        """index -> prototype, the verifier's ``kfuncs=`` argument."""
        return {i: k.proto for i, k in enumerate(self.kfuncs)}

    def proto(self, name: str) -> KfuncProto:
        return self.kfuncs[self.resolve(name)].proto

    def objs(self) -> dict[str, ObjLayout]:
        """BTF struct name -> ObjLayout, the verifier's ``objs=`` argument."""
        return {"nf_conn": NF_CONN_LAYOUT, "nf_conn___init": NF_CONN_INIT_LAYOUT}


@lru_cache(maxsize=1)
def default_registry() -> KfuncRegistry:
    """The registry every Collection uses unless told otherwise."""
    return KfuncRegistry()
