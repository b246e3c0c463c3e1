"""Kernel kfuncs dataplane knows: flags, prototypes, object layouts.

The kernel's "unstable" functions (net/netfilter/nf_conntrack_bpf.c,
nf_nat_bpf.c, the XDP dynptr kfuncs and the common ones of
kernel/bpf/helpers.c in Linux 6.18): one line per kfunc with its KF_* flags and its
argument and return kinds as the verifier checks them, plus the kernel's
struct layouts of the objects they hand out. This is the kernel side of
the ABI -- ``dataplane verify --kernel-layout`` checks against it, and the
runtime's registry (dataplane/kfuncs/registry.py) implements these very
prototypes, each kfunc by name, with layouts of its own objects.

Argument kinds: ``"scalar"``, ``"ctx"``, ``"obj:<type>"`` (pointer to a
kfunc object), ``"mem"`` followed by a ``"size"`` argument (the kernel's
``__sz`` pairs: memory read or written by the kfunc), the dynptr kinds
``"dynptr"``, ``"dynptr_uninit:<type>"`` (``ptr__uninit``), ``"mem_opt"``
+ ``"szk"`` (``buffer__opt`` + ``buffer__szk``). Return kinds: ``"void"``,
``"scalar"``, ``"obj:<type>"``, ``"dynptr_ro"``/``"dynptr_rw"`` (a slice:
PTR_TO_MEM of the constant size, MEM_RDONLY for bpf_dynptr_slice).
Open-coded iterators (KF_ITER_NEW / _NEXT / _DESTROY): the argument kind
``"iter:<type>"`` is the iterator on the stack (struct bpf_iter_<type>,
``iter_slots`` 8-byte slots); the return kind ``"iter_int"`` is the pointer
bpf_iter_num_next returns (PTR_TO_MEM | MEM_RDONLY of an int, or NULL).
"""
from __future__ import annotations

from dataclasses import dataclass

# include/linux/btf.h
KF_ACQUIRE = 1 << 0
KF_RELEASE = 1 << 1
KF_RET_NULL = 1 << 2
KF_TRUSTED_ARGS = 1 << 4
KF_SLEEPABLE = 1 << 5
KF_RCU = 1 << 7
KF_ITER_NEW = 1 << 8
KF_ITER_NEXT = 1 << 9
KF_ITER_DESTROY = 1 << 10


@dataclass(frozen=True)
class KfuncProto:
    """A kfunc signature (see the module docstring for the kinds)."""

    name: str
    flags: int = 0
    args: tuple = ()
    ret: str = "scalar"


@dataclass(frozen=True)
class ObjLayout:
    """What a program may touch in a kernel object a kfunc returned (a
    PTR_TO_BTF_ID): reads anywhere in ``[0, size)`` (they yield scalars),
    writes only inside ``writable`` byte ranges (the kernel's per-type
    btf_struct_access hook; nf_conn: only ``mark``)."""

    name: str        # BTF struct name, e.g. "nf_conn"
    size: int        # bytes a program may read
    fields: tuple    # ((field_name, off, size), ...)
    writable: tuple  # ((off, size), ...) byte ranges a program may write

    def field_at(self, off: int):
        """(name, off, size) of the field holding byte ``off``, or None."""
        for f in self.fields:
            if f[1] <= off < f[1] + f[2]:
                return f
        return None


_LOOKUP = ("ctx", "mem", "size", "mem", "size")     # ctx, bpf_sock_tuple, tuple__sz, bpf_ct_opts, opts__sz
_CONN = "obj:nf_conn"
_INIT = "obj:nf_conn___init"                        # allocated, not yet inserted
_SLICE = ("dynptr", "scalar", "mem_opt", "szk")

KFUNCS = (
    # kernel/bpf/helpers.c common_btf_ids (every program type): RCU
    # read-side sections, paired by the verifier (no flags, no arguments)
    KfuncProto("bpf_rcu_read_lock", 0, (), "void"),
    KfuncProto("bpf_rcu_read_unlock", 0, (), "void"),
    # kernel/bpf/bpf_iter.c, registered in common_btf_ids: the numeric
    # open-coded iterator (struct bpf_iter_num, one 8-byte stack slot)
    KfuncProto("bpf_iter_num_new", KF_ITER_NEW, ("iter:num", "scalar", "scalar"), "scalar"),
    KfuncProto("bpf_iter_num_next", KF_ITER_NEXT | KF_RET_NULL, ("iter:num",), "iter_int"),
    KfuncProto("bpf_iter_num_destroy", KF_ITER_DESTROY, ("iter:num",), "void"),
    # net/core/filter.c, kernel/bpf/helpers.c: the XDP dynptr kfuncs
    KfuncProto("bpf_dynptr_from_xdp", 0, ("ctx", "scalar", "dynptr_uninit:xdp"), "scalar"),
    KfuncProto("bpf_dynptr_slice", KF_RET_NULL, _SLICE, "dynptr_ro"),
    KfuncProto("bpf_dynptr_slice_rdwr", KF_RET_NULL, _SLICE, "dynptr_rw"),
    # net/netfilter/nf_conntrack_bpf.c, nf_nat_bpf.c
    KfuncProto("bpf_xdp_ct_lookup", KF_ACQUIRE | KF_RET_NULL, _LOOKUP, _CONN),
    KfuncProto("bpf_skb_ct_lookup", KF_ACQUIRE | KF_RET_NULL, _LOOKUP, _CONN),
    KfuncProto("bpf_xdp_ct_alloc", KF_ACQUIRE | KF_RET_NULL, _LOOKUP, _INIT),
    KfuncProto("bpf_skb_ct_alloc", KF_ACQUIRE | KF_RET_NULL, _LOOKUP, _INIT),
    KfuncProto("bpf_ct_insert_entry", KF_ACQUIRE | KF_RET_NULL | KF_RELEASE, (_INIT,), _CONN),
    KfuncProto("bpf_ct_release", KF_RELEASE, (_CONN,), "void"),
    KfuncProto("bpf_ct_set_timeout", KF_TRUSTED_ARGS, (_INIT, "scalar"), "void"),
    KfuncProto("bpf_ct_change_timeout", KF_TRUSTED_ARGS, (_CONN, "scalar"), "scalar"),
    KfuncProto("bpf_ct_set_status", KF_TRUSTED_ARGS, (_INIT, "scalar"), "scalar"),
    KfuncProto("bpf_ct_change_status", KF_TRUSTED_ARGS, (_CONN, "scalar"), "scalar"),
    # (nfct, union nf_inet_addr *addr (16 bytes), int port, enum nf_nat_manip_type manip)
    KfuncProto("bpf_ct_set_nat_info", KF_TRUSTED_ARGS, (_INIT, "mem", "scalar", "scalar"), "scalar"),
)

# struct nf_conn in the 6.18 kernel's BTF (offsets in bytes). Only the
# members a BPF program can reasonably name are listed; reads anywhere in
# the 248 bytes are allowed, as btf_struct_access allows.
NF_CONN_FIELDS = (
    ("ct_general", 0, 4), ("lock", 4, 4), ("timeout", 8, 4), ("zone", 12, 4),
    ("tuplehash", 16, 112), ("status", 128, 8), ("ct_net", 136, 8), ("nat_bysource", 144, 16),
    ("master", 160, 8), ("mark", 168, 4), ("secmark", 172, 4), ("ext", 176, 8), ("proto", 184, 64),
)
NF_CONN = ObjLayout("nf_conn", 248, NF_CONN_FIELDS, ((168, 4),))
# _nf_conntrack_btf_struct_access treats struct nf_conn and the allocated,
# not yet inserted nf_conn___init alike ("the same layout"): mark only,
# which the selftest's `ct->mark = 77` after bpf_xdp_ct_alloc relies on.
NF_CONN_INIT = ObjLayout("nf_conn___init", 248, NF_CONN_FIELDS, ((168, 4),))
OBJS = {NF_CONN.name: NF_CONN, NF_CONN_INIT.name: NF_CONN_INIT}


# include/net/xdp.h XDP_METADATA_KFUNC_xxx: device-bound kfuncs. The kernel
# refuses them in a program not loaded for one device (prog_ifindex +
# BPF_F_XDP_DEV_BOUND_ONLY), before checking any argument; dataplane
# programs are never bound to one device, so every load gets that refusal.
DEV_BOUND_KFUNCS = frozenset({"bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash",
                              "bpf_xdp_metadata_rx_vlan_tag"})
DEV_BOUND_MSG = "metadata kfuncs require device-bound program"


# The other kernel kfuncs: ``dataplane verify --kernel-layout`` takes their
# prototypes from the running kernel's BTF (dataplane/loader/kernel_kfuncs.py),
# which does not carry their KF_* flags: the kernel keeps those in its kfunc
# id sets (BTF_ID_FLAGS in the 6.18 sources named). A kfunc absent here is
# checked with no flags. Verify-only: dataplane's runtime does not run them.
KERNEL_KFUNC_FLAGS = {
    # kernel/bpf/helpers.c generic_btf_ids
    "bpf_task_acquire": KF_ACQUIRE | KF_RCU | KF_RET_NULL,
    "bpf_task_release": KF_RELEASE,
    "bpf_task_from_pid": KF_ACQUIRE | KF_RET_NULL,
    "bpf_task_from_vpid": KF_ACQUIRE | KF_RET_NULL,
    "bpf_task_under_cgroup": KF_RCU,
    "bpf_task_get_cgroup1": KF_ACQUIRE | KF_RCU | KF_RET_NULL,
    "bpf_cgroup_acquire": KF_ACQUIRE | KF_RCU | KF_RET_NULL,
    "bpf_cgroup_release": KF_RELEASE,
    "bpf_cgroup_ancestor": KF_ACQUIRE | KF_RCU | KF_RET_NULL,
    "bpf_cgroup_from_id": KF_ACQUIRE | KF_RET_NULL,
    "bpf_send_signal_task": KF_TRUSTED_ARGS,
    # kernel/bpf/helpers.c common_btf_ids
    "bpf_get_kmem_cache": KF_RET_NULL,
    "bpf_map_sum_elem_count": KF_TRUSTED_ARGS,       # kernel/bpf/map_iter.c
    "bpf_copy_from_user_str": KF_SLEEPABLE,
    "bpf_copy_from_user_task_str": KF_SLEEPABLE,
    "bpf_copy_from_user_dynptr": KF_SLEEPABLE,
    "bpf_copy_from_user_str_dynptr": KF_SLEEPABLE,
    "bpf_copy_from_user_task_dynptr": KF_SLEEPABLE | KF_TRUSTED_ARGS,
    "bpf_copy_from_user_task_str_dynptr": KF_SLEEPABLE | KF_TRUSTED_ARGS,
    # net/xfrm/xfrm_state_bpf.c
    "bpf_xdp_get_xfrm_state": KF_RET_NULL | KF_ACQUIRE,
    "bpf_xdp_xfrm_state_release": KF_RELEASE,
    # kernel/trace/bpf_trace.c key_sig_kfunc_set
    "bpf_lookup_user_key": KF_ACQUIRE | KF_RET_NULL | KF_SLEEPABLE,
    "bpf_lookup_system_key": KF_ACQUIRE | KF_RET_NULL,
    "bpf_key_put": KF_RELEASE,
    # kernel/bpf/crypto.c
    "bpf_crypto_decrypt": KF_RCU,
    "bpf_crypto_encrypt": KF_RCU,
}

# Kfuncs the kernel's verifier treats by name (special_kfunc_list and the
# checks keyed on it: object allocation, graph roots and nodes, locks, IRQ
# and preemption state, casts, callbacks, packet-changing calls): their BTF
# prototype does not say what the kernel checks, and dataplane does not model
# those rules, so ``verify --kernel-layout`` names them rather than guessing.
VERIFIER_SPECIAL_KFUNCS = frozenset({
    "bpf_obj_new_impl", "bpf_percpu_obj_new_impl", "bpf_obj_drop_impl", "bpf_percpu_obj_drop_impl",
    "bpf_refcount_acquire_impl", "bpf_list_push_front_impl", "bpf_list_push_back_impl",
    "bpf_list_pop_front", "bpf_list_pop_back", "bpf_list_front", "bpf_list_back",
    "bpf_rbtree_add_impl", "bpf_rbtree_remove", "bpf_rbtree_first", "bpf_rbtree_root", "bpf_rbtree_left",
    "bpf_rbtree_right", "bpf_cast_to_kern_ctx", "bpf_rdonly_cast", "bpf_dynptr_clone", "bpf_throw",
    "bpf_wq_set_callback_impl", "bpf_preempt_disable", "bpf_preempt_enable", "bpf_local_irq_save",
    "bpf_local_irq_restore", "bpf_res_spin_lock", "bpf_res_spin_unlock", "bpf_res_spin_lock_irqsave",
    "bpf_res_spin_unlock_irqrestore", "bpf_xdp_pull_data", "__bpf_trap", "bpf_get_kmem_cache",
    "bpf_iter_css_task_new", "bpf_session_cookie", "bpf_session_is_return",
    "bpf_task_work_schedule_signal_impl", "bpf_task_work_schedule_resume_impl", "bpf_stream_vprintk_impl",
})


# struct bpf_iter_<type> sizes in 8-byte stack slots (include/uapi/linux/bpf.h)
ITER_SLOTS = {"num": 1}


def protos() -> dict[str, KfuncProto]:
    """name -> prototype of every kernel kfunc above."""
    return {p.name: p for p in KFUNCS}
