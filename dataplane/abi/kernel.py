"""Which Linux the dataplane models, in one place.

The verifier, helpers and kfuncs follow one kernel's behaviour, probed on
that kernel (verdicts of edge-case programs, log texts, xlated rewrites).
Kernels move: a stable update changed what survives pointer arithmetic in
6.18.44, for one.  ``MODELLED`` names the release whose behaviour the code
follows; ``running()`` is what this machine boots.  They are shown side by
side (``dataplane --version``, ``Service.Info``, the verifier log header) so
a difference between the two is visible rather than a silent drift, and the
differential tests always compare against the running kernel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from dataplane.abi.helpers import HELPER_NAMES

MODELLED = "6.18.44"


@dataclass(frozen=True)
class Behaviour:
    """Where kernels that all call themselves the modelled release still
    differ -- distribution patches, hardening, backports -- as the verifier
    sees it.  The defaults are the modelled release's own behaviour; a value
    probed on the running kernel comes from dataplane.loader.kernel_probe.

    ``refused_kfuncs``: kfuncs the kernel has and still refuses in a program,
    after checking their arguments, with "NAME() is not allowed" (seen:
    bpf_dynptr_slice_rdwr on a hardened 6.18.44 build).  ``inner_map_lookup``:
    the register type a map-in-map lookup returns before its NULL check,
    "map_value_or_null" (the inner map appears only after the check) or
    "map_ptr_or_null" (a CONST_PTR_TO_MAP of the inner template at once).
    ``refused_helpers``: (program type, helper id) pairs the modelled
    release allows and this kernel refuses with "program of this type cannot
    use helper" (seen: bpf_xdp_adjust_meta in XDP on a 6.18.44 build).
    ``probed``: False for the defaults, True when a running kernel answered.
    """

    refused_kfuncs: frozenset = frozenset()
    inner_map_lookup: str = "map_value_or_null"
    probed: bool = False
    refused_helpers: frozenset = frozenset()

    def refuses_helper(self, prog_type: str, hid: int) -> bool:
        return (prog_type, hid) in self.refused_helpers

    def differences(self) -> list[str]:
        """What differs from the modelled release, in words (empty: nothing)."""
        out = [f"refuses {k}" for k in sorted(self.refused_kfuncs)]
        out += [f"refuses {HELPER_NAMES.get(h, h)}#{h} in {t} programs" for t, h in sorted(self.refused_helpers)]
        if self.inner_map_lookup != MODELLED_BEHAVIOUR.inner_map_lookup:
            out.append(f"map-in-map lookups return {self.inner_map_lookup}")
        return out


MODELLED_BEHAVIOUR = Behaviour()


def running() -> str:
    """The release of the kernel this process runs on (``uname -r``)."""
    return os.uname().release


def _numeric(release: str) -> tuple[int, ...]:
    head = release.split("-", 1)[0]
    out = []
    for part in head.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


def matches_running() -> bool:
    """True when the running kernel is the modelled release (any local suffix)."""
    return _numeric(running())[:3] == _numeric(MODELLED)[:3]


def describe() -> str:
    """One line: the modelled release and, if different, the running one."""
    run = running()
    if matches_running():
        return f"models Linux {MODELLED} (running {run})"
    return f"models Linux {MODELLED}; running {run} differs -- compare with the live kernel"
