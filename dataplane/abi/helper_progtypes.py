"""Which helpers the kernel lets each program type call (the kernel's
``<type>_func_proto`` plus ``bpf_base_func_proto`` for a privileged loader:
CAP_BPF + CAP_PERFMON), modelled on the release in :mod:`dataplane.abi.kernel`.

This is a fact about the kernel, not about dataplane: a helper outside a
type's set is refused by BPF_PROG_LOAD with "program of this type cannot use
helper X", while a helper inside it that dataplane does not implement is
dataplane's gap and is reported as such (see :func:`unavailable_reason`).
``tests/test_abi_helper_progtypes.py`` probes the running kernel (one
BPF_PROG_LOAD per helper and type) and names every difference.
"""
from __future__ import annotations

from dataplane.abi.helpers import HELPER_NAMES
from dataplane.abi.progs import VERIFIER_CTX

_XDP = (
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 23, 25, 28, 35, 37, 42, 44, 51, 54, 55, 65, 69, 80, 84,
    85, 86, 87, 88, 89, 93, 94, 99, 100, 105, 106, 109, 110, 112, 113, 114, 115, 117, 118, 120, 123, 125,
    130, 131, 132, 133, 134, 136, 137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 163,
    164, 165, 169, 170, 171, 172, 175, 176, 177, 178, 180, 181, 182, 188, 189, 190, 191, 194, 195, 196,
    197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211,
)
_SOCKET = (
    1, 2, 3, 5, 6, 7, 8, 12, 14, 15, 16, 17, 22, 25, 26, 35, 37, 42, 46, 47, 55, 68, 80, 87, 88, 89, 93,
    94, 105, 106, 109, 112, 113, 114, 115, 117, 118, 120, 122, 123, 125, 130, 131, 132, 133, 134, 136,
    137, 138, 139, 140, 141, 148, 149, 153, 154, 156, 157, 158, 160, 164, 165, 169, 170, 171, 172, 175,
    176, 177, 178, 180, 181, 182, 191, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 208, 209, 210, 211,
)
_TC = (
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28, 29,
    30, 31, 32, 33, 34, 35, 37, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 55, 66, 68, 69, 79, 80, 83, 84, 85,
    86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 100, 105, 106, 107, 108, 109, 110, 112, 113, 114, 115, 117,
    118, 120, 122, 123, 124, 125, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 148, 149,
    151, 152, 153, 154, 155, 156, 157, 158, 160, 163, 164, 165, 169, 170, 171, 172, 175, 176, 177, 178,
    180, 181, 182, 191, 192, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208,
    209, 210, 211,
)

# verifier program-type name (as dataplane.verifier takes it) -> helper ids
KERNEL_HELPERS: dict[str, frozenset[int]] = {
    "xdp": frozenset(_XDP),
    "socket": frozenset(_SOCKET),
    "tc": frozenset(_TC),
}
# enum bpf_prog_type -> verifier program-type name, for the types above (abi/progs.py)
PROG_TYPE_MODEL = VERIFIER_CTX


def kernel_allows(prog_type: str, hid: int) -> bool:
    """Does the kernel let a ``prog_type`` program call helper ``hid``?"""
    return hid in KERNEL_HELPERS.get(prog_type, frozenset())


def unavailable_reason(prog_type: str, hid: int) -> str:
    """The message for a helper dataplane cannot run in a ``prog_type``
    program: the kernel's own text when the kernel refuses it too, else a
    text that says the gap is dataplane's."""
    name = HELPER_NAMES.get(hid)
    if name is None:
        return f"invalid func unknown#{hid}"
    if not kernel_allows(prog_type, hid):
        return f"program of this type cannot use helper {name}#{hid}"
    return (f"helper {name}#{hid} is not implemented by dataplane "
            f"(the kernel allows it in {prog_type} programs; dataplane lacks it)")
