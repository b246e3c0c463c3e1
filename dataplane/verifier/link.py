"""A program of an ObjectSpec as BPF_PROG_LOAD hands it to the verifier.

The one place that links a spec for the verifier (Collection.load, `dataplane
verify` and whatever else verifies use it): every map relocation gets the
map's fd-like number -- its position in the object's map order, from 1 --
and the verifier a MapInfo per number (with the bpf_spin_lock offset found
in the value's BTF); every kfunc call gets the index the caller's kfunc
table gives it (default: 1000, 1001, ... in order of first use) and the
verifier its prototype. A kfunc without a prototype is refused the way the
kernel refuses a kfunc it does not export.
"""
from __future__ import annotations

import errno
import struct
from dataclasses import dataclass, replace

from dataplane.abi.progs import VERIFIER_CTX
from dataplane.errors import DataplaneError, VerifierError
from dataplane.verifier.types import map_info

FIRST_MAP_FD = 1
FIRST_KFUNC_ID = 1000


@dataclass
class Linked:
    """What ``verify()`` takes for one program."""

    insns: list            # decoded instructions (map and kfunc immediates linked)
    prog_type: str | None  # the verifier's ctx model (abi.progs.VERIFIER_CTX); None: not modelled
    maps: dict             # fd -> MapInfo
    kfuncs: dict           # kfunc id -> KfuncProto
    license: str
    kernel: object = None  # abi.kernel.Behaviour of the kernel to follow (None: the modelled release)

    def verify(self, **kw):
        """dataplane.verifier.verify on the linked program (``kw``: log_level, objs, ...)."""
        from dataplane.verifier import verify
        return verify(self.insns, prog_type=self.prog_type, maps=self.maps, license=self.license,
                      kfuncs=self.kfuncs, kernel=self.kernel, **kw)


def map_fds(spec) -> dict[str, int]:
    """Map name -> the fd-like number the verifier knows it by."""
    return {name: FIRST_MAP_FD + i for i, name in enumerate(spec.maps)}


def link_program(spec, ps, protos: dict, kfunc_ids: dict[str, int] | None = None, unknown=None,
                 kernel=None) -> Linked:
    """Link ProgramSpec ``ps`` of ObjectSpec ``spec`` for the verifier.

    ``protos``: kfunc name -> KfuncProto; ``kfunc_ids``: kfunc name -> the
    index its call instructions carry (the runtime's table indices, so the
    facts the verifier records match the code that runs); ``unknown``: kfunc
    name -> the message for a kfunc without a prototype (default: the
    kernel's "not allowed"); ``kernel``: the abi.kernel.Behaviour to verify
    against (callers pass the running kernel's, loader.kernel_probe)."""
    from dataplane.verifier import decode_program
    fds = map_fds(spec)
    maps = {fds[n]: replace(map_info(m, spec.btf), name=n) for n, m in spec.maps.items()}
    buf = bytearray(ps.insns)
    ktable: dict[int, object] = {}
    ids: dict[str, int] = dict(kfunc_ids or {})
    for r in ps.relocations:
        i = r.insn_index
        if r.kind in ("map_fd", "map_value"):
            if r.map_name not in fds:
                raise DataplaneError(f"program {ps.name}: relocation at insn {i} names unknown map "
                                     f"{r.map_name!r}", kind=errno.EINVAL)
            struct.pack_into("<i", buf, i * 8 + 4, fds[r.map_name])
        elif r.kind == "kfunc":
            proto = protos.get(r.symbol)
            if proto is None:
                msg = unknown(r.symbol) if unknown else f"calling kernel function {r.symbol} is not allowed"
                raise VerifierError(msg, msg + "\n")
            kid = ids.setdefault(r.symbol, FIRST_KFUNC_ID + len(ids))
            ktable[kid] = proto
            struct.pack_into("<i", buf, i * 8 + 4, kid)
        elif r.kind in ("ksym", "kconfig"):
            raise DataplaneError(f"program {ps.name}: extern {r.symbol} ({r.kind}) at insn {i} is not supported",
                                 kind=errno.EOPNOTSUPP)
    from dataplane.verifier.core import gc_paused
    with gc_paused():
        insns = decode_program(bytes(buf))
    return Linked(insns, VERIFIER_CTX.get(ps.prog_type), maps, ktable, ps.license or spec.license or "", kernel)
