"""The JIT (checked mode) on the 313 programs of the BPF conformance suite.

All programs are compiled once per session into a fresh cache directory
(bundled: a few cc processes instead of 313), then each test runs its
program in-process; a handful also go through the real
``dataplane conformance-plugin --engine jit`` subprocess.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import CONFORMANCE, ROOT, require

ASSEMBLED = CONFORMANCE / "assembled.json"
CASES = json.loads(ASSEMBLED.read_text()) if ASSEMBLED.exists() else {}
PLUGIN_CASES = ["prime", "lddw", "ldxb", "call_unwind_fail", "call_local", "callx", "stxdw", "div64-by-zero-reg", "lock_xchg"]


@pytest.fixture(scope="module", autouse=True)
def jit_cache(tmp_path_factory):
    """A private cache, warmed with every conformance program; subprocesses
    inherit it through the environment."""
    old = os.environ.get("DATAPLANE_CACHE_DIR")
    os.environ["DATAPLANE_CACHE_DIR"] = str(tmp_path_factory.mktemp("jitcache"))
    if CASES:
        from dataplane.runtime.jit import compiler, engine

        results = compiler.build_many([(bytes.fromhex(c["program"]), True) for c in CASES.values()], engine.decode)
        failed = [r for r in results if isinstance(r, Exception)]
        assert not failed, failed[0]
    yield os.environ["DATAPLANE_CACHE_DIR"]
    if old is None:
        del os.environ["DATAPLANE_CACHE_DIR"]
    else:
        os.environ["DATAPLANE_CACHE_DIR"] = old


def test_suite_is_complete():
    require(bool(CASES), f"conformance suite at {ASSEMBLED}")
    assert len(CASES) == 313


@pytest.mark.parametrize("name", sorted(CASES))
def test_jit_in_process(name):
    from dataplane.runtime import conformance

    case = CASES[name]
    r0 = conformance.run(bytes.fromhex(case["program"]), bytes.fromhex(case["mem"]), "jit")
    assert r0 == int(case["result"], 16)


def _spaced(hexstr: str) -> str:
    return " ".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


def _plugin(case: dict) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "dataplane", "conformance-plugin"]
    if case["mem"]:
        args.append(_spaced(case["mem"]))
    args += ["--engine", "jit"]
    return subprocess.run(args, input=_spaced(case["program"]) + "\n", capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


@pytest.mark.parametrize("name", PLUGIN_CASES)
def test_jit_plugin(name):
    require(name in CASES, f"conformance case {name}")
    proc = _plugin(CASES[name])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == format(int(CASES[name]["result"], 16), "x")


def test_jit_plugin_reports_runtime_error():
    # r0 = *(u64 *)(r1 + 0) with no memory: r1 is 0; checked mode must stop, not fault
    proc = _plugin({"program": "7910000000000000" + "9500000000000000", "mem": ""})
    assert proc.returncode != 0
    assert "out of bounds memory load at insn 0" in proc.stderr


def test_jit_plugin_rejects_invalid_program():
    proc = _plugin({"program": "ff00000000000000" + "9500000000000000", "mem": ""})
    assert proc.returncode != 0
    assert "invalid instruction 0" in proc.stderr
