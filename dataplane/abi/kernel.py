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

MODELLED = "6.18.44"


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
