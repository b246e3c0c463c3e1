"""Assembler: byte-for-byte against the conformance suite's own assembler output."""
from __future__ import annotations

import json

import pytest

from conftest import CONFORMANCE, run_cli
from dataplane.errors import AsmError
from dataplane.isa.asm import assemble, read_data_file

ASSEMBLED = json.loads((CONFORMANCE / "assembled.json").read_text())
DATA_FILES = sorted((CONFORMANCE / "tests").glob("*.data"))


def test_suite_is_complete():
    assert len(DATA_FILES) == 313 == len(ASSEMBLED)


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.stem)
def test_conformance_program_bytes(path):
    data = read_data_file(path)
    expected = ASSEMBLED[path.stem]
    assert data["program"].hex() == expected["program"]
    assert data["mem"].hex() == expected["mem"]
    assert data["result"] == int(expected["result"], 16)
    # The asm section alone must also give the same bytes (for lddw.data the
    # -- raw words happen to equal the assembly, which is what the suite stored).
    assert assemble(data["asm"]).hex() == expected["program"]


def test_raw_section_overrides_asm(tmp_path):
    f = tmp_path / "t.data"
    f.write_text("-- asm\nmov %r0, 1\nexit\n-- raw\n0x00000002000000b7\n0x0000000000000095\n-- result\n0x2\n")
    d = read_data_file(f)
    assert d["raw"] == bytes.fromhex("b700000002000000" "9500000000000000")
    assert d["program"] == d["raw"]
    assert assemble(d["asm"]) == bytes.fromhex("b700000001000000" "9500000000000000")


@pytest.mark.parametrize("text,line,needle", [
    ("mov %r0, 1\nfrobnicate %r1\nexit", 2, "unknown mnemonic"),
    ("mov %r0, 1\n\nmov %r11x, 1", 3, "invalid register"),
    ("ja nowhere\nexit", 1, "undefined label"),
    ("mov %r0, 0x100000000\nexit", 1, "out of range"),
    ("ldxw %r0, [%r1+70000]\nexit", 1, "out of range"),
    ("a:\nmov %r0, 1\na:\nexit", 3, "duplicate label"),
    ("exit\nadd %r0\n", 2, "operand"),
    ("lock nand [%r10-8], %r1", 1, "unknown atomic"),
    ("ldxsdw %r0, [%r10-8]", 1, "sign-extending"),
    ("call weird 3", 1, "call mode"),
    ("stw %r1, 3", 1, "memory operand"),
])
def test_errors_name_the_line(text, line, needle):
    with pytest.raises(AsmError) as ei:
        assemble(text)
    assert ei.value.line == line
    assert needle in str(ei.value)


def test_data_file_error_line_is_file_line(tmp_path):
    f = tmp_path / "bad.data"
    f.write_text("# header\n-- asm\nmov %r0, 1\nbogus\nexit\n-- result\n0x1\n")
    with pytest.raises(AsmError) as ei:
        read_data_file(f)
    assert ei.value.line == 4


def test_labels_exit_and_wide_offsets():
    code = assemble("jeq %r1, 0, exit\nja32 L\nL:\nlddw %r0, -1\ncall local f\nexit\nf:\nexit\n")
    words = [code[i:i + 8].hex() for i in range(0, len(code), 8)]
    assert words == ["1501040000000000",   # first exit is at slot 5: 5 - 0 - 1
                     "0600000000000000",   # gotol L (imm)
                     "18000000ffffffff", "00000000ffffffff",
                     "8510000001000000",   # local call to slot 6: 6 - 4 - 1
                     "9500000000000000", "9500000000000000"]


def test_cli_asm_hex_and_raw(tmp_path):
    src = tmp_path / "p.s"
    src.write_text("mov %r0, 2\nexit\n")
    out = run_cli("asm", str(src), "--hex").stdout.split()
    assert out == "b7 00 00 00 02 00 00 00 95 00 00 00 00 00 00 00".split()
    binf = tmp_path / "p.bin"
    run_cli("asm", str(src), "-o", str(binf))
    assert binf.read_bytes() == bytes.fromhex("b700000002000000" "9500000000000000")
    dis = run_cli("disasm", str(binf)).stdout.splitlines()
    assert dis == ["0: (b7) r0 = 2", "1: (95) exit"]
    data = CONFORMANCE / "tests" / "lddw.data"
    assert "".join(run_cli("asm", str(data), "--hex").stdout.split()) == ASSEMBLED["lddw"]["program"]
    bad = tmp_path / "bad.s"
    bad.write_text("mov %r0, 1\nnope\n")
    proc = run_cli("asm", str(bad), check=False)
    assert proc.returncode != 0 and "line 2" in proc.stderr
