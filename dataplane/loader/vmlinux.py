"""The running kernel's own BTF (/sys/kernel/btf/vmlinux): what it exports.

Read once per process, lazily: CO-RE against the kernel and kfunc BTF ids
for the kernel oracle (dataplane.io.kload), and the answer to "does the
kernel have this kfunc at all?" for messages that tell a kernel refusal
from something dataplane lacks.
"""
from __future__ import annotations

from functools import lru_cache

from dataplane.errors import LoadError

from .btf import parse_btf

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"


@lru_cache(maxsize=1)
def vmlinux_btf():
    try:
        with open(VMLINUX_BTF, "rb") as f:
            return parse_btf(f.read())
    except OSError as e:
        raise LoadError(f"{VMLINUX_BTF}: {e.strerror} (kfuncs need the kernel's BTF)", kind=e.errno) from e


def kernel_has_func(name: str) -> bool | None:
    """Does the running kernel's BTF have FUNC ``name``? None when there is
    no kernel BTF to ask."""
    try:
        return vmlinux_btf().find(name, "FUNC") is not None
    except LoadError:
        return None


def kfunc_unavailable(name: str) -> str:
    """The message for a kfunc dataplane does not provide: the kernel's
    (libbpf's) words when the kernel does not have it either, else one that
    says the gap is dataplane's."""
    from dataplane.abi.kfuncs import DEV_BOUND_KFUNCS, DEV_BOUND_MSG
    if name in DEV_BOUND_KFUNCS:      # the kernel's refusal too (add_kfunc_call)
        return DEV_BOUND_MSG
    has = kernel_has_func(name)
    if has is False:
        return f"extern (func ksym) '{name}': not found in kernel or module BTFs"
    where = "the running kernel exports it" if has else "no kernel BTF to check"
    return f"kfunc {name} is not implemented by dataplane ({where}; dataplane lacks it)"
