"""JitProgram API, the compile cache and the nogil batch loop."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from dataplane.errors import DataplaneError, ExecutionError, InvalidInstruction


def ins(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


EXIT = ins(0x95)
# r0 = mem[0] (u8) + r2; mem[1] = 0x77
PROG = ins(0x71, 0, 1, 0) + ins(0x0F, 0, 2) + ins(0x72, 1, 0, 1, 0x77) + EXIT
# r0 = 1 + callee(5) where callee = r1 * 3
CALLS = ins(0xB7, 1, 0, 0, 5) + ins(0x85, 0, 1, 0, 2) + ins(0x07, 0, 0, 0, 1) + EXIT + ins(0xBF, 0, 1) \
    + ins(0x27, 0, 0, 0, 3) + EXIT


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPLANE_CACHE_DIR", str(tmp_path))
    return tmp_path


def jit(code, checked=True, **kw):
    from dataplane.runtime.jit.engine import JitProgram

    return JitProgram(code, checked, **kw)


def test_run_reads_and_writes_memory(cache):
    p = jit(PROG)
    mem = bytearray([5, 0, 0])
    assert p.run(mem) == 5 + 3
    assert mem[1] == 0x77


def test_cache_hit_and_key(cache):
    a = jit(PROG)
    assert not a.cache_hit
    b = jit(PROG)
    assert b.cache_hit and b.path == a.path
    c = jit(PROG, checked=False)
    assert c.path != a.path  # mode is part of the key
    d = jit(PROG, opt="O1")
    assert d.path not in (a.path, c.path)
    assert sorted(f.suffix for f in cache.iterdir()) == [".so"] * 3  # no temporaries left behind


def test_unchecked_mode_runs_the_same(cache):
    mem = bytearray([9, 0])
    assert jit(PROG, checked=False).run(mem) == 9 + 2
    assert mem[1] == 0x77
    assert jit(CALLS, checked=False).run() == 16


def test_checked_fault_names_the_insn(cache):
    p = jit(PROG)
    with pytest.raises(ExecutionError) as exc:
        p.run(bytes([1, 2]))  # read-only: the store at insn 2 must fail
    assert exc.value.pc == 2
    assert "out of bounds memory store at insn 2" in str(exc.value)
    assert "input memory is read-only" in str(exc.value)
    assert p.run(bytearray([1, 2])) == 3  # the env is reusable after a fault


def test_bpf_to_bpf_calls(cache):
    from dataplane.runtime.jit.engine import source

    assert jit(CALLS).run() == 16
    src = source(CALLS)
    assert src.count("static uint64_t dp_f") == 4  # 2 prototypes + 2 definitions: one C function each
    assert "dp_jit_main" in src


def test_labels_only_at_jump_targets(cache):
    from dataplane.runtime.jit.engine import source

    # 0: if r1 == 0 goto 2; 1: r0 = 1; 2: exit
    src = source(ins(0x15, 1, 0, 1, 0) + ins(0xB7, 0, 0, 0, 1) + EXIT)
    assert [line for line in src.splitlines() if line.startswith("L")] == ["L2:"]


def test_invalid_program_rejected_like_interpreter(cache):
    with pytest.raises(InvalidInstruction) as exc:
        jit(ins(0xFF) + EXIT)
    assert exc.value.index == 0


def test_compile_error_carries_stderr(cache):
    from dataplane.runtime.jit import compiler

    with pytest.raises(DataplaneError) as exc:
        compiler.compile_source("int broken( {", cache / "x.so")
    assert "error" in str(exc.value)
    assert exc.value.stderr
    assert not list(cache.iterdir())


def test_run_repeat_keeps_memory(cache):
    # *(u64 *)(r1) += 1 (atomic); r0 = *(u64 *)(r1)
    p = jit(ins(0xB7, 2, 0, 0, 1) + ins(0xDB, 1, 2, 0, 0) + ins(0x79, 0, 1, 0) + EXIT)
    mem = bytearray(8)
    assert p.run_repeat(mem, 1000) == 1000
    assert int.from_bytes(mem, "little") == 1000


def test_ld_abs_packet(cache):
    # r0 = be16 at packet offset 2
    p = jit(ins(0x28, 0, 0, 0, 2) + EXIT)
    assert p.run(packet=bytes([0, 1, 0xAB, 0xCD])) == 0xABCD
    assert p.run(packet=bytes([0, 1, 2])) == 0  # outside: program ends with r0 = 0


def test_run_batch_verdicts_and_stats(cache):
    # verdict = first byte; packets shorter than 1 byte fault (checked) -> 0
    p = jit(ins(0x71, 0, 1, 0) + EXIT)
    bufs = [bytearray([2]), bytearray([1, 9]), bytearray(), bytearray([3])]
    assert p.run_batch(bufs) == [2, 1, 0, 3]
    st = p.stats
    assert st["runs"] == 4 and st["errors"] == 1 and st["batches"] == 1 and st["ns"] > 0


def test_helpers_from_the_interpreter_table(cache):
    from dataplane.runtime.interp import HelperTable

    # r1 = 0; call 5 (unwind: ends the program with r0 = 0 when r1 == 0); r0 = 7
    code = ins(0xB7, 1, 0, 0, 0) + ins(0x85, 0, 0, 0, 5) + ins(0xB7, 0, 0, 0, 7) + EXIT
    assert jit(code, helpers=HelperTable.conformance()).run() == 0
    with pytest.raises(ExecutionError, match="call to unknown helper 5 at insn 1"):
        jit(code).run()


def test_default_cache_dir(monkeypatch, tmp_path):
    from dataplane.runtime.jit import compiler

    monkeypatch.delenv("DATAPLANE_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert compiler.cache_dir() == Path(tmp_path) / ".cache" / "dataplane" / "jit"
    assert os.path.isdir(compiler.cache_dir())
