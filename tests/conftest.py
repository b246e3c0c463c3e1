"""Shared test fixtures.

Kernel-dependent tests call :func:`require` with the capability they need.
Outside CI a missing capability skips the test; under ``CI=true`` it fails it,
because CI machines are supposed to have every capability the suite uses.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _shared() -> Path:
    """../shared beside the checkout -- or beside the main checkout when this
    is a `git worktree` elsewhere (its .git file names the common dir)."""
    here = ROOT.parent / "shared"
    if here.is_dir():
        return here
    try:
        common = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--git-common-dir"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return here
    return (ROOT / common).resolve().parent.parent / "shared"


SHARED = _shared()
CONFORMANCE = SHARED / "conformance"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(ok: bool, what: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required capability missing in CI: {what}")
    pytest.skip(f"missing capability: {what}")


@pytest.fixture
def root_required():
    require(os.geteuid() == 0, "root (bpf() syscall, netns)")


@pytest.fixture
def wire():
    """netns_util.Wire: a - vA | dataplane | vB - b, removed afterwards."""
    from netns_util import Wire
    require(os.geteuid() == 0, "root (netns, veth, live sockets)")
    w = Wire()
    try:
        yield w
    finally:
        w.close()


@pytest.fixture
def pair():
    """netns_util.NsPair: a veth pair, its peer ``p0`` in a namespace of its own."""
    from netns_util import NsPair
    require(os.geteuid() == 0, "root (netns, veth, live sockets)")
    p = NsPair()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(scope="session")
def clang():
    path = shutil.which("clang")
    require(path is not None, "clang")
    return path


@pytest.fixture(scope="session")
def objs(clang, tmp_path_factory) -> dict[str, Path]:
    """Every tests/progs/*.c compiled once per session: file stem -> object path."""
    from support import progs
    return progs.compile_progs(clang, tmp_path_factory.mktemp("progs"))


@pytest.fixture(scope="session")
def build_c(clang, tmp_path_factory):
    """``build_c(source_text, name, header=False, extra=None)`` or ``build_c(path)``:
    an object compiled once per session (support/progs.py caches by text)."""
    from support import progs
    out = tmp_path_factory.mktemp("built")

    def build(src, name: str = "prog", *, header: bool = False, extra: list[str] | None = None) -> Path:
        if isinstance(src, Path):
            return progs.compile_file(clang, src, out, extra)
        return progs.compile_src(clang, src, out, name, header=header, extra=extra)
    return build


@pytest.fixture(scope="session")
def bpftool():
    path = shutil.which("bpftool")
    require(path is not None, "bpftool")
    return path


def run_cli(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `dataplane` command in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "dataplane", *args], input=input, capture_output=True, text=True, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"dataplane {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc
