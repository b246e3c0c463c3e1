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
    for m in re.finditer(r"program of this type cannot use helper (\w+)#(\d+)", text):
        hid = int(m.group(2))
        if any(kernel_probe.behaviour(helpers=[(t, hid)]).refused_helpers for t in ("xdp", "tc", "socket")):
            return Refused(m.group(0))
    return None


def refused_in(spec) -> set[str]:
    """The kfuncs and helpers (as "name#id") ObjectSpec ``spec`` calls that the
    running kernel build refuses (such an object cannot load there;
    test_verifier_progs checks that dataplane refuses it alike)."""
    from dataplane.abi.helpers import HELPER_NAMES
    out = set()
    for ps in spec.programs.values():
        b = kernel_probe.behaviour_for(spec, ps)
        out |= set(b.refused_kfuncs) | {f"{HELPER_NAMES.get(h)}#{h}" for _, h in b.refused_helpers}
    return out


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
        assert any(f"{k}() is not allowed" in str(exc) or f"cannot use helper {k}" in str(exc)
                   for k in refused), str(exc)
        return True
    raise AssertionError(f"dataplane loaded {path}, which calls {sorted(refused)} that this kernel refuses")


def live_frames_refused() -> bool:
    """Does this kernel build refuse BPF_F_TEST_XDP_LIVE_FRAMES outright?
    (One 6.18.44 build answers EPERM even for a two-instruction XDP_PASS
    program, as root.) Asked here with its own program, not kernel_probe's."""
    import errno
    import struct as _s

    from dataplane.io import kbpf
    code = _s.pack("<BBhi", 0xb7, 0, 0, 2) + _s.pack("<BBhi", 0x95, 0, 0, 0)
    p = kbpf.prog_load(code, 6, "GPL")
    try:
        kbpf.prog_test_run(p.fd, bytes(64), repeat=1, flags=kbpf.BPF_F_TEST_XDP_LIVE_FRAMES)
        return False
    except OSError as e:
        if e.errno == errno.EPERM:
            return True
        raise
    finally:
        p.close()
