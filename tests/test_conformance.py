"""The 313 programs of the BPF conformance suite, through the real plugin.

Each program goes through `dataplane conformance-plugin` in a subprocess,
exactly as the suite's runner drives a plugin (program as spaced hex bytes on
stdin, memory as an argument, r0 in hex on stdout). The subprocesses run in a
pool of two once per session; each test then checks its own result, so a
failure is reported under the conformance test's name.
"""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import CONFORMANCE, ROOT, require

ASSEMBLED = CONFORMANCE / "assembled.json"
CASES = json.loads(ASSEMBLED.read_text()) if ASSEMBLED.exists() else {}


def _spaced(hexstr: str) -> str:
    return " ".join(hexstr[i:i + 2] for i in range(0, len(hexstr), 2))


def _plugin(case: dict, engine: str = "interp") -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "dataplane", "conformance-plugin"]
    if case["mem"]:
        args.append(_spaced(case["mem"]))
    args += ["--engine", engine]
    return subprocess.run(args, input=_spaced(case["program"]) + "\n", capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


@pytest.fixture(scope="session")
def plugin_results():
    require(bool(CASES), f"conformance suite at {ASSEMBLED}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = dict(zip(CASES, pool.map(_plugin, CASES.values())))
    return procs


def test_suite_is_complete():
    require(bool(CASES), f"conformance suite at {ASSEMBLED}")
    assert len(CASES) == 313


@pytest.mark.parametrize("name", sorted(CASES))
def test_plugin(name, plugin_results):
    proc = plugin_results[name]
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == format(int(CASES[name]["result"], 16), "x")


@pytest.mark.parametrize("name", sorted(CASES))
def test_in_process(name):
    from dataplane.runtime import conformance

    case = CASES[name]
    mem = bytes.fromhex(case["mem"])
    assert conformance.run(bytes.fromhex(case["program"]), mem) == int(case["result"], 16)


def test_plugin_rejects_invalid_program():
    proc = _plugin({"program": "ff00000000000000" + "9500000000000000", "mem": ""})
    assert proc.returncode != 0
    assert "invalid instruction 0" in proc.stderr
    assert proc.stdout == ""


def test_plugin_reports_runtime_error():
    # r0 = *(u64 *)(r1 + 0) with no memory: r1 is 0
    proc = _plugin({"program": "7910000000000000" + "9500000000000000", "mem": ""})
    assert proc.returncode != 0
    assert "out of bounds memory load at insn 0" in proc.stderr


def test_plugin_memory_with_spaces_and_length():
    # r0 = r2 (the memory length), memory given as the suite's "00  11  " form
    proc = subprocess.run([sys.executable, "-m", "dataplane", "conformance-plugin", "00  11  22  "],
                          input="bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00\n", capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "3\n"


def test_plugin_unknown_engine():
    proc = _plugin({"program": "9500000000000000", "mem": ""}, engine="nope")
    assert proc.returncode != 0
    assert "unknown engine 'nope'" in proc.stderr
