"""decode/encode: round trips and RFC 9669 encoding rules."""
from __future__ import annotations

import json
import struct

import pytest

from conftest import CONFORMANCE
from dataplane.errors import InvalidInstruction
from dataplane.isa import opcodes as op
from dataplane.isa.instruction import Instruction, decode, encode, slot_indices

ASSEMBLED = json.loads((CONFORMANCE / "assembled.json").read_text())


@pytest.mark.parametrize("name", sorted(ASSEMBLED))
def test_roundtrip_conformance(name):
    code = bytes.fromhex(ASSEMBLED[name]["program"])
    insns = decode(code)
    assert encode(insns) == code
    assert sum(i.slots for i in insns) == len(code) // 8


def test_lddw_is_one_instruction():
    code = bytes.fromhex("18000000887766550000000044332211" "9500000000000000")
    insns = decode(code)
    assert len(insns) == 2 and insns[0].is_lddw and insns[0].slots == 2
    assert insns[0].imm == 0x1122334455667788
    assert slot_indices(insns) == [0, 2]
    assert insns[1].is_exit and insns[1].cls == op.BPF_JMP


def test_signed_fields_normalised():
    a = Instruction(0x05, off=0xFFFF)
    assert a.off == -1 and a == Instruction(0x05, off=-1)
    assert Instruction(0xb7, imm=0xFFFFFFFF).imm == -1
    assert Instruction(0x18, imm=-1).imm == 0xFFFFFFFFFFFFFFFF
    assert Instruction(0x06, imm=-3).jump_target(10) == 8
    with pytest.raises(ValueError):
        Instruction(0xb7, imm=1 << 32)


def w(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


EXIT = w(0x95)

# (bytes, bad slot index, substring of reason)
INVALID = [
    (w(0xe7) + EXIT, 0, "unknown ALU"),                     # ALU64 op 0xe0
    (w(0xb7, dst=11) + EXIT, 0, "invalid dst"),             # r11
    (w(0xbf, dst=1, src=12) + EXIT, 0, "invalid src"),
    (w(0xb7, dst=0, src=1) + EXIT, 0, "reserved src_reg"),  # K source with src set
    (w(0x07, off=1) + EXIT, 0, "reserved offset"),          # add with offset
    (w(0x0f, dst=1, src=2, imm=1) + EXIT, 0, "reserved imm"),
    (w(0x3f, dst=1, src=2, off=2) + EXIT, 0, "sdiv offset"),
    (w(0x97, dst=1, off=-1, imm=3) + EXIT, 0, "smod offset"),
    (w(0xbf, dst=1, src=2, off=4) + EXIT, 0, "movsx offset"),
    (w(0xbc, dst=1, src=2, off=32) + EXIT, 0, "movsx offset"),  # 32-bit movsx: 8/16 only
    (w(0xb7, dst=1, off=8) + EXIT, 0, "reserved offset"),    # movsx needs a register source
    (w(0xd4, dst=1, imm=24) + EXIT, 0, "byte swap width"),
    (w(0xd7, dst=1, imm=8) + EXIT, 0, "byte swap width"),
    (w(0xdf, dst=1, imm=16) + EXIT, 0, "bswap"),            # ALU64 END with BE bit
    (w(0x87, dst=1, imm=1) + EXIT, 0, "neg"),
    (w(0x8f, dst=1, src=2) + EXIT, 0, "neg must use source K"),
    (w(0xdb, dst=10, src=1, off=-8, imm=0x02) + EXIT, 0, "unknown atomic"),
    (w(0xdb, dst=10, src=1, off=-8, imm=0xe0) + EXIT, 0, "unknown atomic"),   # xchg without FETCH
    (w(0xd3, dst=10, src=1, off=-8, imm=0x00) + EXIT, 0, "W or DW"),          # atomic byte
    (w(0xcb, dst=10, src=1, off=-8, imm=0x00) + EXIT, 0, "W or DW"),          # atomic half
    (w(0x18), 0, "truncated"),
    (w(0x18) + w(0x95), 1, "second slot"),
    (w(0x18) + w(0, dst=1), 1, "second slot"),
    (w(0x18) + w(0, off=1), 1, "second slot"),
    (w(0x18, src=7) + w(0) + EXIT, 0, "lddw src_reg"),
    (w(0x18, off=1) + w(0) + EXIT, 0, "lddw: reserved"),
    (w(0x85, src=3, imm=1) + EXIT, 0, "call src_reg"),
    (w(0x85, dst=1, imm=1) + EXIT, 0, "reserved dst"),
    (w(0x85, off=1, imm=1) + EXIT, 0, "offset"),
    (w(0x86, imm=1) + EXIT, 0, "JMP32"),                    # call in JMP32 class
    (w(0x96) + EXIT, 0, "exit"),                            # exit in JMP32 class
    (w(0x95, imm=1), 0, "exit"),
    (w(0x05, imm=1) + EXIT, 0, "ja: reserved imm"),
    (w(0x06, off=1) + EXIT, 0, "gotol"),                    # gotol uses imm, off must be 0
    (w(0x0d, dst=1) + EXIT, 0, "ja must use source K"),
    (w(0x15, dst=1, src=2) + EXIT, 0, "reserved src_reg"),
    (w(0x1d, dst=1, src=2, imm=5) + EXIT, 0, "reserved imm"),
    (w(0xf5, dst=1) + EXIT, 0, "unknown jump"),
    (w(0x61, dst=1, src=10, imm=1) + EXIT, 0, "ldx: reserved imm"),
    (w(0x99, dst=1, src=10) + EXIT, 0, "no DW"),            # ldxsdw does not exist
    (w(0x21, dst=1, src=10) + EXIT, 0, "unknown LDX mode"),
    (w(0x62, dst=10, src=1, off=-8, imm=1) + EXIT, 0, "reserved src_reg"),
    (w(0x82, dst=10, off=-8) + EXIT, 0, "unknown ST mode"),
    (w(0x7b, dst=10, src=1, off=-8, imm=1) + EXIT, 0, "stx: reserved imm"),
    (w(0xa3, dst=10, src=1) + EXIT, 0, "unknown STX mode"),
    (w(0x38) + EXIT, 0, "no DW"),                           # LD_ABS DW
    (w(0x20, dst=1) + EXIT, 0, "reserved dst_reg"),         # LD_ABS with dst
    (w(0x20, src=1) + EXIT, 0, "reserved src_reg"),         # LD_ABS uses no src
    (w(0x40, src=1, off=2) + EXIT, 0, "offset"),            # LD_IND offset
    (w(0x60) + EXIT, 0, "unknown LD"),
    (w(0xb7) + w(0xb7) + w(0xff), 2, "unknown ALU"),        # index of the bad slot
    (w(0xb7) + b"\x00" * 3, 1, "multiple of 8"),
]


@pytest.mark.parametrize("code,index,reason", INVALID, ids=[f"{i}" for i in range(len(INVALID))])
def test_invalid_encodings_rejected(code, index, reason):
    with pytest.raises(InvalidInstruction) as ei:
        decode(code)
    assert ei.value.index == index
    assert reason in ei.value.reason
    assert f"invalid instruction {index}" in str(ei.value)


def test_index_counts_lddw_slots():
    code = w(0x18) + w(0) + w(0xb7) + w(0xb7, dst=13)
    with pytest.raises(InvalidInstruction) as ei:
        decode(code)
    assert ei.value.index == 3


VALID = [
    w(0xd4, dst=1, imm=16), w(0xdc, dst=1, imm=64), w(0xd7, dst=1, imm=32),
    w(0xbf, dst=1, src=2, off=32), w(0xbc, dst=1, src=2, off=16), w(0x3f, dst=1, src=2, off=1),
    w(0x97, dst=1, off=1, imm=3), w(0xc3, dst=10, src=1, off=-4, imm=0xf1),
    w(0xdb, dst=10, src=1, off=-8, imm=0xe1), w(0xdb, dst=10, src=1, off=-8, imm=0x51),
    w(0x06, imm=-1), w(0x85, src=1, imm=3), w(0x85, src=2, imm=77), w(0x8d, dst=2),
    w(0x30, imm=14), w(0x48, src=3, imm=2), w(0x91, dst=1, src=10, off=-1),
    w(0x18, src=6) + w(0, imm=5), w(0x67, dst=1, imm=64),   # shift by 64: valid encoding
]


@pytest.mark.parametrize("code", VALID, ids=[c[:1].hex() for c in VALID])
def test_valid_encodings_accepted(code):
    insns = decode(code + EXIT)
    assert encode(insns) == code + EXIT
