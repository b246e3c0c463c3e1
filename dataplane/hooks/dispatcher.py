"""A hook's chain for the kernel: a dispatcher XDP program and one wrapper
per entry, generated as bytecode with the project's encoder.

    dispatcher:  tail call root[0]          (the current revision's first wrapper)
                 -- nothing there: the chain is empty: count PASS, return XDP_PASS
    wrapper k:   r6 = ctx
                 r0 = call <the entry's program>       (its code follows, as a subprogram)
                 count packets/bytes of that verdict for the entry's counter slot
                 if the verdict is in the entry's proceed-on set:
                     tail call next[k + 1]              (the revision's own PROG_ARRAY)
                 -- last, or not proceeding: count the chain verdict, return it

A revision is a fresh PROG_ARRAY with fresh wrappers; publishing it is one
update of root[0], so a packet runs exactly one revision (one that is in
flight keeps its array alive until it leaves). Counters live in one per-CPU
array, six slots (five verdicts + invalid) per attachment and one group for
the chain's verdicts, so they follow the attachment, not its position.

Limits: a packet takes one tail call per program, and the kernel allows 33
(MAX_TAIL_CALL_CNT); each frame of a program mixing bpf-to-bpf calls with
tail calls may use at most 256 bytes of stack (the kernel's verifier says so
when a program does not fit).
"""
from __future__ import annotations

import dataclasses
import struct

from dataplane.abi import maps as M
from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import BPF_PSEUDO_CALL, BPF_PSEUDO_MAP_FD
from dataplane.isa.instruction import Instruction, encode
from dataplane.loader import spec as S

MAX_KERNEL_CHAIN = 33           # MAX_TAIL_CALL_CNT: tail calls one packet may take
NSTAT = 6                       # per slot: aborted, drop, pass, tx, redirect, invalid
MAX_SLOTS = 64                  # attachments with counters (a hook holds 63 programs)
TOTALS = MAX_SLOTS              # the chain-verdict group comes after the attachments'
STATS_ENTRIES = (MAX_SLOTS + 1) * NSTAT
STAT_VALUE = 16                 # struct { u64 packets; u64 bytes; }

ROOT_MAP = "dp_root"
STATS_MAP = "dp_stats"
NEXT_MAP = "dp_next"

XDP_PASS = 2
# BPF_XDP: a PROG_ARRAY only takes programs of its owner's expected_attach_type,
# so the dispatcher and every wrapper declare the one plain XDP programs have
BPF_XDP = 37
_TAIL_CALL = 12                 # bpf_tail_call
_MAP_LOOKUP = 1                 # bpf_map_lookup_elem
_XDP_DATA, _XDP_DATA_END = 0, 4  # offsetof(struct xdp_md, data / data_end)

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)


def _i(opcode, dst=0, src=0, off=0, imm=0) -> Instruction:
    return Instruction(opcode, dst, src, off, imm)


def _mov(dst, imm=None, src=None) -> Instruction:
    if src is not None:
        return _i(op.BPF_ALU64 | op.BPF_MOV | op.BPF_X, dst, src)
    return _i(op.BPF_ALU64 | op.BPF_MOV | op.BPF_K, dst, imm=imm)


def _alu(o, dst, imm=None, src=None) -> Instruction:
    if src is not None:
        return _i(op.BPF_ALU64 | o | op.BPF_X, dst, src)
    return _i(op.BPF_ALU64 | o | op.BPF_K, dst, imm=imm)


def _map(dst: int, name: str, at: int, relocs: list) -> Instruction:
    relocs.append(S.Relocation(at, S.MAP_FD, name, map_name=name))
    return _i(op.OP_LDDW, dst, BPF_PSEUDO_MAP_FD, imm=0)


def _count(key_reg: int, base: int, at: int, relocs: list) -> list[Instruction]:
    """stats[base + key_reg] += {1, data_end - data}; r6 = ctx. Clobbers r0-r5."""
    out = [
        _mov(R2, src=key_reg),
        _alu(op.BPF_ADD, R2, imm=base),
        _i(op.BPF_STX | op.BPF_MEM | op.BPF_W, R10, R2, off=-4),
        _mov(R2, src=R10),
        _alu(op.BPF_ADD, R2, imm=-4),
    ]
    out.append(_map(R1, STATS_MAP, at + _slots(out), relocs))
    tail = [
        _i(op.BPF_JMP | op.BPF_CALL, imm=_MAP_LOOKUP),
        _i(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, R0, off=9, imm=0),
        _i(op.BPF_LDX | op.BPF_MEM | op.BPF_DW, R1, R0, off=0),
        _alu(op.BPF_ADD, R1, imm=1),
        _i(op.BPF_STX | op.BPF_MEM | op.BPF_DW, R0, R1, off=0),
        _i(op.BPF_LDX | op.BPF_MEM | op.BPF_W, R2, R6, off=_XDP_DATA_END),
        _i(op.BPF_LDX | op.BPF_MEM | op.BPF_W, R3, R6, off=_XDP_DATA),
        _alu(op.BPF_SUB, R2, src=R3),
        _i(op.BPF_LDX | op.BPF_MEM | op.BPF_DW, R1, R0, off=8),
        _alu(op.BPF_ADD, R1, src=R2),
        _i(op.BPF_STX | op.BPF_MEM | op.BPF_DW, R0, R1, off=8),
    ]
    return out + tail


def _slots(insns: list[Instruction]) -> int:
    return sum(2 if x.opcode == op.OP_LDDW else 1 for x in insns)


def dispatcher_spec(name: str = "dp_dispatch") -> S.ObjectSpec:
    """The dispatcher and the maps every revision shares (root, stats)."""
    relocs: list = []
    code = [_mov(R6, src=R1), _mov(R1, src=R6)]
    code.append(_map(R2, ROOT_MAP, _slots(code), relocs))
    code += [_mov(R3, imm=0), _i(op.BPF_JMP | op.BPF_CALL, imm=_TAIL_CALL),
             _mov(R8, imm=XDP_PASS)]                      # empty chain: PASS
    code += _count(R8, TOTALS * NSTAT, _slots(code), relocs)
    code += [_mov(R0, imm=XDP_PASS), _i(op.BPF_JMP | op.BPF_EXIT)]
    insns = encode(code)
    prog = S.ProgramSpec(name, "xdp", 6, BPF_XDP, insns, relocations=relocs, license="GPL",
                         sec_insn_cnt=len(insns) // 8)
    maps = {ROOT_MAP: S.MapSpec(ROOT_MAP, M.BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 1, section=".maps"),
            STATS_MAP: S.MapSpec(STATS_MAP, M.BPF_MAP_TYPE_PERCPU_ARRAY, 4, STAT_VALUE, STATS_ENTRIES,
                                 section=".maps")}
    return S.ObjectSpec("dp_dispatch", {name: prog}, maps, license="GPL")


def wrapper_spec(user: S.ProgramSpec, position: int, slot: int, proceed_mask: int, name: str) -> S.ProgramSpec:
    """Entry ``position`` of a revision: ``user`` (its code, subprograms and
    relocations unchanged, shifted behind the wrapper) called as a
    subprogram, counted in ``slot``, then the next entry if its verdict is
    in ``proceed_mask`` (bit 1 << verdict)."""
    if not 0 <= slot < MAX_SLOTS:
        raise ValueError(f"counter slot {slot} out of range")
    relocs: list = []
    head = [_mov(R6, src=R1), _i(op.BPF_JMP | op.BPF_CALL, src=BPF_PSEUDO_CALL)]   # imm: patched below
    body = [_mov(R7, src=R0), _mov(R8, src=R7),
            _i(op.BPF_JMP | op.BPF_JLE | op.BPF_K, R8, off=1, imm=4),
            _mov(R8, imm=5)]                   # a verdict outside 0..4: the "invalid" counter
    code = head + body
    code += _count(R8, slot * NSTAT, _slots(code), relocs)
    final = []
    test = [_mov(R1, imm=1), _alu(op.BPF_LSH, R1, src=R8), _alu(op.BPF_AND, R1, imm=proceed_mask & 0x3F)]
    call = [_mov(R1, src=R6)]
    call_at = _slots(code) + _slots(test) + 1 + _slots(call)
    call.append(_map(R2, NEXT_MAP, call_at, relocs))
    call += [_mov(R3, imm=position + 1), _i(op.BPF_JMP | op.BPF_CALL, imm=_TAIL_CALL)]
    # if (mask & (1 << v)) == 0 skip the tail call
    code += test + [_i(op.BPF_JMP | op.BPF_JEQ | op.BPF_K, R1, off=_slots(call), imm=0)] + call
    final = _count(R8, TOTALS * NSTAT, _slots(code), relocs)
    code += final + [_mov(R0, src=R7), _i(op.BPF_JMP | op.BPF_EXIT)]
    n = _slots(code)
    # bpf-to-bpf call at slot 1 to the user's entry at slot n: imm = n - (1 + 1)
    code[1] = _i(op.BPF_JMP | op.BPF_CALL, src=BPF_PSEUDO_CALL, imm=n - 2)
    insns = encode(code) + user.insns
    shifted = [dataclasses.replace(r, insn_index=r.insn_index + n) for r in user.relocations]
    func_info = list(user.func_info)
    line_info = list(user.line_info)
    if func_info:
        # the wrapper is a function of its own with the entry's prototype (int f(struct xdp_md *))
        func_info = [dataclasses.replace(func_info[0], insn_off=0)] + \
                    [dataclasses.replace(f, insn_off=f.insn_off + n) for f in func_info]
    if line_info:
        line_info = [dataclasses.replace(line_info[0], insn_off=0)] + \
                    [dataclasses.replace(li, insn_off=li.insn_off + n) for li in line_info]
    return dataclasses.replace(user, name=name, attach_type=BPF_XDP, insns=insns, relocations=relocs + shifted,
                               func_info=func_info,
                               line_info=line_info, core_relos=[dataclasses.replace(c, insn_off=c.insn_off + n)
                                                                for c in user.core_relos],
                               sec_insn_cnt=n + (user.sec_insn_cnt or user.insn_count),
                               subprograms=[(s, o + n) for s, o in user.subprograms])


def read_stats(raw_per_cpu: bytes, ncpu: int) -> tuple[int, int]:
    """(packets, bytes) summed over CPUs from a per-CPU stats value."""
    pk = by = 0
    for c in range(ncpu):
        p, b = struct.unpack_from("<QQ", raw_per_cpu, c * STAT_VALUE)
        pk += p
        by += b
    return pk, by
