"""The kfunc registry: what a program's ``extern ... __ksym`` functions
resolve to in this runtime (libbpf resolves them against vmlinux BTF).

A kfunc has a name (the kernel's), an index (the ``imm`` the linker writes
into ``call src=2``, a slot of the kfunc HelperTable the engines call
through ``env->kfuncs``), a C implementation, and a prototype the verifier
checks (:class:`dataplane.abi.kfuncs.KfuncProto`: argument kinds with
``mem``/``size`` pairs for the kernel's ``__sz`` arguments, and the
kernel's KF_* flags). Objects kfuncs hand out are described by
:class:`~dataplane.abi.kfuncs.ObjLayout` (``objs()``): programs may read
the listed fields and write only ``mark``, as the kernel's
nf_conntrack_btf_struct_access allows.

Names, flags and signatures are the kernel's, read from abi/kfuncs.py
(one table for the kernel side and this one); what is the runtime's own
here is which C function serves each name and the layout of the objects
it hands out.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dataplane.abi import kfuncs as abi_kfuncs
from dataplane.abi.kfuncs import KF_ACQUIRE, KF_RELEASE, KF_RET_NULL, KF_TRUSTED_ARGS, KfuncProto, ObjLayout
from dataplane.errors import LoadError

__all__ = ["KF_ACQUIRE", "KF_RELEASE", "KF_RET_NULL", "KF_TRUSTED_ARGS", "Kfunc", "KfuncRegistry",
           "default_registry", "NF_CONN_LAYOUT"]

@dataclass(frozen=True)
class Kfunc:
    name: str
    native_id: int          # enum dp_kf_id in csrc/ct_kfuncs.h (family "ct")
    proto: KfuncProto       # the kernel's (abi/kfuncs.py)
    family: str = "ct"      # "ct": conntrack (ct_kfuncs), "dynptr": runtime/csrc/kfuncs_dynptr.c,
                            # "common": runtime/csrc/kfuncs_common.c


def _kfunc(name: str, native_id: int, family: str = "ct") -> Kfunc:
    return Kfunc(name, native_id, abi_kfuncs.protos()[name], family)


# One line per kfunc dataplane implements: name -> its native id in its
# family; the index of a kfunc in a registry is its position.
CONNTRACK_KFUNCS = (
    _kfunc("bpf_xdp_ct_lookup", 0),
    _kfunc("bpf_skb_ct_lookup", 1),
    _kfunc("bpf_xdp_ct_alloc", 2),
    _kfunc("bpf_skb_ct_alloc", 3),
    _kfunc("bpf_ct_insert_entry", 4),
    _kfunc("bpf_ct_release", 5),
    _kfunc("bpf_ct_set_timeout", 6),
    _kfunc("bpf_ct_change_timeout", 7),
    _kfunc("bpf_ct_set_status", 8),
    _kfunc("bpf_ct_change_status", 9),
    _kfunc("bpf_ct_set_nat_info", 10),
)
DYNPTR_KFUNCS = (
    _kfunc("bpf_dynptr_from_xdp", 0, "dynptr"),
    _kfunc("bpf_dynptr_slice", 1, "dynptr"),
    _kfunc("bpf_dynptr_slice_rdwr", 2, "dynptr"),
)
COMMON_KFUNCS = (
    _kfunc("bpf_rcu_read_lock", 0, "common"),
    _kfunc("bpf_rcu_read_unlock", 1, "common"),
    _kfunc("bpf_iter_num_new", 2, "common"),
    _kfunc("bpf_iter_num_next", 3, "common"),
    _kfunc("bpf_iter_num_destroy", 4, "common"),
)
CT_NAMES = frozenset(k.name for k in CONNTRACK_KFUNCS)

# struct dp_nf_conn as programs see it (dataplane/conntrack/csrc/conntrack.h):
# the first 24 bytes are readable, only mark is writable.
_NF_CONN_FIELDS = (("ct_general", 0, 4), ("timeout", 4, 4), ("status", 8, 8), ("mark", 16, 4))
NF_CONN_LAYOUT = ObjLayout("nf_conn", 24, _NF_CONN_FIELDS, ((16, 4),))
NF_CONN_INIT_LAYOUT = ObjLayout("nf_conn___init", 24, _NF_CONN_FIELDS, ((16, 4),))


class KfuncRegistry:
    """A set of kfuncs at fixed indices: a KfuncProvider for
    ``Collection.load(kfuncs=...)`` (see runtime/collection.py)."""

    def __init__(self, kfuncs=CONNTRACK_KFUNCS + DYNPTR_KFUNCS + COMMON_KFUNCS):
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
            from dataplane.runtime.helpers import install_common_kfuncs, install_dynptr_kfuncs
            from dataplane.runtime.interp import HelperTable
            t = HelperTable()
            install(t, {k.native_id: i for i, k in enumerate(self.kfuncs) if k.family == "ct"})
            install_dynptr_kfuncs(t, {k.name: i for i, k in enumerate(self.kfuncs) if k.family == "dynptr"})
            install_common_kfuncs(t, {k.name: i for i, k in enumerate(self.kfuncs) if k.family == "common"})
            self._table = t
        return self._table

    def protos(self) -> dict[str, KfuncProto]:
        """name -> prototype the verifier checks calls against."""
        return {k.name: k.proto for k in self.kfuncs}

    def proto(self, name: str) -> KfuncProto:
        return self.kfuncs[self.resolve(name)].proto

    def objs(self) -> dict[str, ObjLayout]:
        """BTF struct name -> ObjLayout, the verifier's ``objs=`` argument."""
        return {"nf_conn": NF_CONN_LAYOUT, "nf_conn___init": NF_CONN_INIT_LAYOUT}

    def btf(self):
        """The runtime's BTF of the objects these kfuncs hand out (CO-RE target)."""
        from dataplane.kfuncs.btf_types import runtime_btf
        return runtime_btf()

    def bind(self, collection, table=None):
        """Give ``collection``'s conntrack kfuncs their table: ``table`` (a
        ConntrackTable), the name of a shared one (dataplane.conntrack.named)
        or None for a new one -- made only when a program calls a conntrack
        kfunc; returns it (``Collection.conntrack``)."""
        from dataplane.conntrack import named
        from dataplane.conntrack.table import ConntrackTable
        from dataplane.kfuncs.ct_kfuncs import CtContext
        uses_ct = any(r.kind == "kfunc" and r.symbol in CT_NAMES
                      for p in collection.programs.values() for r in p.spec.relocations)
        if table is None and not uses_ct:
            return None
        if isinstance(table, str):
            table = named.get_or_create(table)
        elif table is None:
            # a collection's own table (a one-off run): storage as entries arrive
            table = ConntrackTable(name=(collection.spec.name or "collection")[:31], prealloc=False)
        collection.runner.set_ct(CtContext(table))
        return table


@lru_cache(maxsize=1)
def default_registry() -> KfuncRegistry:
    """The registry every Collection uses unless told otherwise."""
    return KfuncRegistry()
