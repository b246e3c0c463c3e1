"""Prototypes of the running kernel's other kfuncs, read from its BTF.

dataplane models some kfuncs (dataplane/abi/kfuncs.py); the kernel exports
many more. For ``dataplane verify --kernel-layout`` a call to any function
the kernel's BTF tags ``bpf_kfunc`` gets a KfuncProto derived the way the
kernel's verifier classifies kfunc arguments (get_kfunc_ptr_arg_type,
check_kfunc_args in kernel/bpf/verifier.c):

- integer or enum parameter: a scalar; named ``*__sz`` after a pointer: the
  size of the memory that pointer points to; ``*__szk``: a constant size;
- pointer named ``*__ign``: not checked at all;
- pointer to the program's context type (struct xdp_md, __sk_buff): ctx;
- pointer to struct bpf_dynptr: an initialised dynptr;
- pointer followed by a size parameter: memory of that size;
- pointer to a scalar or to a struct of scalars: memory of the pointee's
  size (read and written);
- pointer to any other struct: a kernel object (PTR_TO_BTF_ID) of that type;
- return: void, scalar, or a pointer to a struct (a PTR_TO_BTF_ID, NULL when
  the flags say KF_RET_NULL, referenced when KF_ACQUIRE).

The KF_* flags are not in BTF; abi.kfuncs.KERNEL_KFUNC_FLAGS has them for
the kfuncs where they matter. Whatever does not fit these rules (the
kernel's special_kfunc_list, graph and lock types, ``__str``, ``__k``,
``__irq_flag``, ``__uninit``, callbacks, returned void pointers) becomes an
:class:`Unmodelled` with the reason, which the verifier reports instead of
guessing.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from dataplane.abi.kfuncs import KERNEL_KFUNC_FLAGS, VERIFIER_SPECIAL_KFUNCS, KfuncProto, ObjLayout

_INTS = ("INT", "ENUM", "ENUM64")
_CTX_TYPES = {"xdp_md": "xdp", "__sk_buff": "tc"}      # btf_is_prog_ctx_type, per program kind
# struct types the kernel gives rules of their own (KF_ARG_PTR_TO_<...>)
_SPECIAL_STRUCTS = ("bpf_list_head", "bpf_list_node", "bpf_rb_root", "bpf_rb_node", "bpf_res_spin_lock",
                    "bpf_wq", "bpf_timer", "bpf_task_work", "bpf_refcount", "bpf_spin_lock")
# parameter-name suffixes with rules of their own (is_kfunc_arg_*)
_SPECIAL_SUFFIXES = ("__str", "__k", "__irq_flag", "__uninit", "__map", "__prog", "__alloc",
                     "__refcounted_kptr", "__nullable", "__opt")


@dataclass(frozen=True)
class Unmodelled:
    """A kernel kfunc dataplane cannot verify calls to, and why."""

    name: str
    why: str

    def message(self) -> str:
        return (f"kfunc {self.name}: the running kernel exports it, but dataplane does not model the "
                f"kernel verifier's rules for it ({self.why}; dataplane lacks it)")


def _scalar_struct(btf, t, depth: int = 0) -> bool:
    """__btf_type_is_scalar_struct: a struct whose members are all scalars
    or arrays of scalars (nested structs too, a few levels deep)."""
    if depth > 3:
        return False
    for m in t.members:
        mt = btf.skip_modifiers(m.type)
        while mt.kind == "ARRAY":
            mt = btf.skip_modifiers(mt.type)
        if mt.kind in _INTS:
            continue
        if mt.kind in ("STRUCT", "UNION") and _scalar_struct(btf, mt, depth + 1):
            continue
        return False
    return True


def derive(btf, name: str, func_id: int, prog_kind: str = "xdp"):
    """KfuncProto of FUNC ``func_id`` of ``btf``, or an Unmodelled."""
    if name in VERIFIER_SPECIAL_KFUNCS:
        return Unmodelled(name, "the kernel's verifier checks it by name")
    flags = KERNEL_KFUNC_FLAGS.get(name, 0)
    proto = btf[btf[func_id].type]
    params = list(proto.members)
    if len(params) > 5:
        return Unmodelled(name, f"{len(params)} parameters")
    args: list[str] = []
    for i, p in enumerate(params):
        pname = p.name or ""
        nxt = params[i + 1].name or "" if i + 1 < len(params) else ""
        t = btf.skip_modifiers(p.type) if p.type else None
        if t is None:
            return Unmodelled(name, f"parameter {i} is void")
        if t.kind in _INTS:
            if pname.endswith("__szk"):
                args.append("szk")
            elif pname.endswith("__sz"):
                args.append("size")
            elif pname.endswith("__k"):
                return Unmodelled(name, f"parameter {pname} must be a known constant of a kind dataplane does not check")
            else:
                args.append("scalar")
            continue
        if t.kind != "PTR":
            return Unmodelled(name, f"parameter {pname} is a {t.kind}")
        if pname.endswith("__ign"):
            args.append("any")
            continue
        bad = next((s for s in _SPECIAL_SUFFIXES if pname.endswith(s)), None)
        if bad:
            return Unmodelled(name, f"parameter {pname} ({bad} arguments)")
        pt = btf.skip_modifiers(t.type) if t.type else None
        ptname = pt.name if pt is not None else ""
        if pt is not None and pt.kind in ("STRUCT", "UNION"):
            if ptname in _CTX_TYPES:
                if _CTX_TYPES[ptname] != prog_kind:
                    return Unmodelled(name, f"parameter {pname} is the context of another program type")
                args.append("ctx")
                continue
            if ptname == "bpf_dynptr":
                args.append("dynptr")
                continue
            if ptname.startswith("bpf_iter_") or ptname in _SPECIAL_STRUCTS:
                return Unmodelled(name, f"parameter {pname} (struct {ptname})")
        if nxt.endswith("__sz") or nxt.endswith("__szk"):
            args.append("mem")            # KF_ARG_PTR_TO_MEM_SIZE: the size argument checks it
            continue
        if pt is None or pt.kind == "VOID":
            return Unmodelled(name, f"parameter {pname} points to void without a size")
        if pt.kind in _INTS or (pt.kind in ("STRUCT", "UNION") and _scalar_struct(btf, pt)):
            args.append(f"mem:{btf.resolve_size(t.type)}")
            continue
        if pt.kind in ("STRUCT", "UNION"):
            args.append(f"obj:{ptname}")
            continue
        return Unmodelled(name, f"parameter {pname} points to a {pt.kind}")
    ret = "void"
    if proto.type:
        rt = btf.skip_modifiers(proto.type)
        if rt.kind in _INTS:
            ret = "scalar"
        elif rt.kind == "PTR":
            pt = btf.skip_modifiers(rt.type) if rt.type else None
            if pt is None or pt.kind not in ("STRUCT", "UNION") or _scalar_struct(btf, pt):
                return Unmodelled(name, "it returns a pointer to memory")
            ret = f"obj:{pt.name}"
        else:
            return Unmodelled(name, f"it returns a {rt.kind}")
    return KfuncProto(name, flags, tuple(args), ret)


@lru_cache(maxsize=1)
def kernel_kfunc_ids() -> dict[str, int]:
    """name -> BTF FUNC id of every function the kernel's BTF tags bpf_kfunc
    (pahole's decl tag for the kernel's __bpf_kfunc)."""
    from .vmlinux import vmlinux_btf
    btf = vmlinux_btf()
    return {btf[t.type].name: t.type for t in btf.types[1:] if t.kind == "DECL_TAG" and t.name == "bpf_kfunc"}


def kernel_kfunc(name: str, prog_kind: str = "xdp"):
    """The derived prototype (KfuncProto), an Unmodelled, or None when the
    running kernel does not export kfunc ``name``."""
    from .vmlinux import vmlinux_btf
    tid = kernel_kfunc_ids().get(name)
    if tid is None:
        return None
    return derive(vmlinux_btf(), name, tid, prog_kind)


def object_layout(struct_name: str) -> ObjLayout | None:
    """What a program may read of a kernel object of BTF struct
    ``struct_name`` a derived kfunc returned: its bytes, no writes (the
    kernel allows writes only where a type registers a hook, as nf_conn's)."""
    from .vmlinux import vmlinux_btf
    t = vmlinux_btf().find(struct_name, "STRUCT")
    if t is None:
        return None
    return ObjLayout(struct_name, t.size, (), ())
