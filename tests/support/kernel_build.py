"""Kernel builds that refuse what the modelled release accepts.

Some kernels that call themselves the modelled release refuse a kfunc
outright ("bpf_dynptr_slice_rdwr() is not allowed" on a hardened 6.18.44).
A differential test cannot run such a program in that kernel; what it can
and must check there is that dataplane refuses it the same way (the
verifier follows the running kernel: dataplane.loader.kernel_probe).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from dataplane.errors import VerifierError
from dataplane.loader import kernel_probe

ROOT = Path(__file__).resolve().parents[2]


class Refused:
    """The running kernel refused the program for a build difference; ``line`` is its error line."""

    def __init__(self, line: str):
        self.line = line

    def __repr__(self):
        return f"Refused({self.line!r})"


def build_refusal(exc: BaseException) -> Refused | None:
    """A Refused when ``exc`` is the kernel refusing a kfunc this build refuses
    (and kernel_probe found so independently), else None."""
    text = f"{exc}\n{getattr(exc, 'log', '')}"
    for m in re.finditer(r"(\w+)\(\) is not allowed", text):
        if m.group(1) in kernel_probe.behaviour([m.group(1)]).refused_kfuncs:
            return Refused(m.group(0))
    return None


def refused_in(spec) -> set[str]:
    """The kfuncs ObjectSpec ``spec`` calls that the running kernel build refuses
    (such an object cannot load there; test_verifier_progs checks that dataplane
    refuses it alike)."""
    names = {r.symbol for ps in spec.programs.values() for r in ps.relocations if r.kind == "kfunc"}
    return set(kernel_probe.behaviour(names).refused_kfuncs)


def kernel_or_refused(fn, *args, **kw):
    """``fn(*args, **kw)`` (a kernel run), or a Refused for a build refusal."""
    try:
        return fn(*args, **kw)
    except (VerifierError, OSError) as exc:
        r = build_refusal(exc)
        if r is None:
            raise
        return r


def assert_dataplane_refuses(obj: Path, prog: str, refused: Refused) -> None:
    """`dataplane prog run` refuses ``prog`` with the kernel's words."""
    p = subprocess.run([sys.executable, "-m", "dataplane", "prog", "run", str(obj), "--prog", prog,
                        "--data-in", "/dev/null"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode != 0, f"dataplane ran {prog}, which this kernel refuses ({refused.line})"
    assert refused.line in p.stderr, p.stderr[-2000:]


def refused_alike(path, **load_kw) -> bool:
    """True when object ``path`` calls a kfunc this kernel build refuses -- and
    then Collection.load refuses it too, naming the kfunc as the kernel does;
    False when nothing in it is refused (load it as usual)."""
    from dataplane.loader.elf import load_object
    from dataplane.runtime.collection import Collection

    refused = refused_in(load_object(str(path)))
    if not refused:
        return False
    try:
        Collection.load(str(path), **load_kw)
    except VerifierError as exc:
        assert any(f"{k}() is not allowed" in str(exc) for k in refused), str(exc)
        return True
    raise AssertionError(f"dataplane loaded {path}, which calls {sorted(refused)} that this kernel refuses")
