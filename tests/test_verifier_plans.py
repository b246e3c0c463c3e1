"""The native loop's per-instruction plans (fastloop.make_plans, built from
the instruction fields) are what dispatch.plan decides, and its encoding
fast-accept never accepts an encoding validate.check refuses: checked on
every opcode with field values at and around the limits of each rule."""
from __future__ import annotations

import itertools

from dataplane.abi.pseudo import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX
from dataplane.isa import opcodes as op
from dataplane.isa.instruction import Instruction
from dataplane.isa.validate import check
from dataplane.verifier import dispatch, fastloop, scalar
from dataplane.verifier.branch import NEG

K = fastloop.KINDS
_ALU = {"add": 0, "sub": 1, "mul": 2, "and": 3, "or": 4, "xor": 5, "lsh": 6, "rsh": 7, "arsh": 8}


def _expected(insn, pl, pc):
    """(kind, fields...) as the Python-tuple plans gave them to the native
    loop: the reference the native builder must match."""
    if insn is None or pl is None:
        return ("other",)
    kind, args = pl
    if kind == dispatch.FAST:
        name, dst, src, kb, alu32 = args
        return ("fast", _ALU[name], dst, src, int(alu32), kb)
    if kind == dispatch.MOVK:
        return ("movk", insn.dst, args)
    if kind == dispatch.MOVX:
        return ("movx",) + tuple(args)
    if kind == dispatch.LDX and insn.mode == op.BPF_MEM:
        return ("load", insn.dst, insn.src, insn.off, op.SIZE_BYTES[insn.size])
    if kind == dispatch.STORE and insn.mode == op.BPF_MEM:
        if insn.cls == op.BPF_STX:
            return ("storem", insn.dst, insn.src, insn.off, op.SIZE_BYTES[insn.size], None)
        return ("storem", insn.dst, -1, insn.off, op.SIZE_BYTES[insn.size], scalar.const(insn.imm))
    if kind in (dispatch.STORE, dispatch.ATOMIC):
        return ("store",)
    if kind == dispatch.LDDW and insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
        fd = insn.imm & 0xFFFFFFFF
        return ("ldmap", insn.dst, fd - (1 << 32) if fd & 0x80000000 else fd)
    if kind == dispatch.JA:
        return ("ja", insn.jump_target(pc))
    if kind == dispatch.COND and insn.op in NEG and insn.op != op.BPF_JCOND:
        k = None if insn.source == op.BPF_X else scalar.const(
            insn.imm if insn.cls == op.BPF_JMP else insn.imm & scalar.M32)
        return ("cond", insn.dst, insn.src if k is None else -1, insn.op, NEG[insn.op],
                int(insn.cls == op.BPF_JMP32), insn.target if False else insn.jump_target(pc), k)
    return ("other",)


def _got(t):
    kind, alu, dst, src, alu32, jop, njop, target, off, size, k, _enc = t
    name = next(n for n, v in K.items() if v == kind)
    if name == "fast":
        return (name, alu, dst, src, alu32, k if src < 0 else None)
    if name == "movk":
        return (name, dst, k)
    if name == "movx":
        return (name, dst, src)
    if name == "load":
        return (name, dst, src, off, size)
    if name == "storem":
        return (name, dst, src, off, size, k if src < 0 else None)
    if name == "ldmap":
        return (name, dst, target)
    if name == "ja":
        return (name, target)
    if name == "cond":
        return (name, dst, src, jop, njop, alu32, target, k if src < 0 else None)
    return (name,)


def _programs():
    regs = (0, 1, 10, 11)
    srcs = (0, 1, 2, 5, 6, 7, 10, 11)
    offs = (0, 1, -1, 8, 16, 32)
    imms = (0, 1, -1, 16, 31, 32, 63, 64, 0x7FFFFF)     # (gotol targets must fit an int)
    prog = []
    for code, dst, src, off, imm in itertools.product(range(256), regs, srcs, offs, imms):
        if code == op.OP_LDDW:
            continue        # below, with its second slot
        prog.append(Instruction(code, dst, src, off, imm))
    for dst, src, off, imm in itertools.product(regs, srcs, offs, (0, 3, 0xFFFFFFFF, 1 << 40)):
        prog += [Instruction(op.OP_LDDW, dst, src, off, imm), None]
    return prog


def test_native_plans_match_dispatch_and_validate():
    prog = _programs()
    native = fastloop.plans(prog)
    ref = dispatch.plan(prog)
    bad = []
    for pc, (insn, pl, got) in enumerate(zip(prog, ref, native)):
        if _got(got) != _expected(insn, pl, pc):
            bad.append((insn, _got(got), _expected(insn, pl, pc)))
        if got[-1] and check(insn) is not None:
            bad.append((insn, "fast-accepted", check(insn)))
    assert not bad, bad[:5]
    # the fast accept covers most valid encodings (else it is not worth having)
    valid = [g[-1] for insn, g in zip(prog, native) if insn is not None and check(insn) is None]
    assert sum(valid) > len(valid) // 2, (sum(valid), len(valid))
