"""Seed 001's transparency: the C source of a program travels with it. From a
clang-built object's BTF line and func info,

* the verifier log shows ``; <source line> @ <file>:<line>`` before the
  instructions, exactly where the kernel's verifier log does for the same
  object (compared on the must-reject corpus, program by program, wherever
  both verifiers walk the same instructions);
* `dataplane prog dump xlated [--linum]` shows the function prototypes and
  source lines bpftool shows for the same program loaded in the kernel.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import require, run_cli
from dataplane.errors import VerifierError
from dataplane.cli.verify_cmd import verify_program
from dataplane.io.kload import KernelObject
from dataplane.loader import load_object
from support import progs as build

TESTS = Path(__file__).resolve().parent
REJECT = sorted((TESTS / "verifier_reject").glob("*.c"))
INSN = re.compile(r"^(\d+): \(")


def annotations(log: str) -> list[tuple[str | None, int]]:
    """(the source line printed just before, or None) for every instruction line of a log."""
    out, pending = [], None
    for ln in log.splitlines():
        if ln.startswith("; ") and " @ " in ln:
            pending = ln
        m = INSN.match(ln)
        if m:
            out.append((pending, int(m.group(1))))
            pending = None
    return out


@pytest.fixture(scope="module")
def rejects(clang, tmp_path_factory):
    out = tmp_path_factory.mktemp("linfo")
    return {src.stem: build.compile_c(clang, src, out / f"{src.stem}.o") for src in REJECT}


def test_verifier_log_shows_source_lines_like_the_kernel(rejects, root_required):
    compared = annotated = 0
    differ = []
    for stem, path in rejects.items():
        with pytest.raises(VerifierError) as kerr:
            with KernelObject.load(path, log_level=1):
                pass
        spec = load_object(path)
        (ps,) = spec.programs.values()
        assert ps.line_info, f"{stem}: clang -g left no line info"
        with pytest.raises(VerifierError) as ours:
            verify_program(spec, ps, log_level=1, kernel_layout=True)
        k, o = annotations(kerr.value.log), annotations(ours.value.log)
        if [pc for _, pc in k] != [pc for _, pc in o]:
            continue          # the two verifiers walked different paths: nothing to line up
        compared += 1
        annotated += any(a for a, _ in k)
        if k != o:
            differ.append(f"{stem}:\n  kernel {k}\n  ours   {o}")
    assert not differ, "\n".join(differ)
    assert compared >= 25 and annotated >= 25, (compared, annotated)


def test_verify_command_prints_source_lines(rejects):
    r = run_cli("verify", str(rejects["map_value_oob"]), "--log-level", "1", check=False)
    assert r.returncode != 0
    assert "; return s->v[idx] ? XDP_DROP : XDP_PASS; @ map_value_oob.c:19" in r.stdout + r.stderr


def _marks(lines: list[str]) -> list[str]:
    """Prototype and source-line lines of a dump (instruction text differs:
    the kernel shows its rewritten program, dataplane the one loaded)."""
    return [ln for ln in lines if ln.startswith(";") or ln.endswith(":")]


@pytest.mark.parametrize("src,prog", [
    ("progs/xdp_counter.c", "xdp_count"),
    ("progs/xdp_fw.c", "xdp_firewall"),
    ("progs/xdp_global.c", "xdp_global"),
    ("verifier_accept/subprog_map_value.c", "subprog_map"),
])
@pytest.mark.parametrize("linum", [False, True])
def test_dump_xlated_source_lines_match_bpftool(clang, bpftool, tmp_path, root_required, src, prog, linum):
    obj = build.compile_c(clang, TESTS / src, tmp_path / "p.o", [f"-I{(TESTS / src).parent}"])
    with KernelObject.load(obj) as k:
        cmd = [bpftool, "prog", "dump", "xlated", "id", str(k.progs[prog].id)] + (["linum"] if linum else [])
        kern = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    ours = run_cli("prog", "dump", "xlated", str(obj), "--prog", prog, *(["--linum"] if linum else [])).stdout
    want = _marks(kern)
    require(bool(want), "bpftool printing BTF line info")
    assert _marks(ours.splitlines()) == want
    assert any(ln.endswith(":") for ln in want) and sum(ln.startswith(";") for ln in want) >= 5
