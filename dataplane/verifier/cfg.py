"""Static checks before abstract interpretation: subprograms, jump ranges,
reachability (the kernel's check_subprogs + check_cfg), plus a register
liveness pass that state pruning uses to ignore dead registers.

Instructions are addressed by slot index like the kernel (an lddw takes two
slots); ``prog[pc]`` is None for the second half of an lddw.
"""
from __future__ import annotations

from dataplane.errors import VerifierError
from dataplane.isa import opcodes as op

ALL_REGS = (1 << 11) - 1
ARG_REGS = 0b111110     # r1-r5
CALLER_SAVED = 0b111111  # r0-r5


class Cfg:
    __slots__ = ("prog", "n", "subprogs", "subprog_of", "succ", "prune", "live_in")


def _fail(msg: str) -> None:
    raise VerifierError(msg, msg + "\n")


def slot_program(insns) -> list:
    prog = []
    for insn in insns:
        prog.append(insn)
        if insn.slots == 2:
            prog.append(None)
    return prog


def _succs(insn, pc: int) -> tuple:
    if insn.is_exit:
        return ()
    nxt = pc + insn.slots
    if insn.is_ja:
        return (insn.jump_target(pc),)
    if insn.is_cond_jump or insn.opcode == (op.BPF_JMP | op.BPF_JCOND):
        t = insn.jump_target(pc)
        return (nxt, t) if t != nxt else (nxt,)
    return (nxt,)


def build(insns) -> Cfg:
    prog = slot_program(insns)
    n = len(prog)
    if n == 0:
        _fail("last insn is not an exit or jmp")
    # Subprograms start at 0 and at every bpf-to-bpf call / callback target.
    starts = {0}
    for pc, insn in enumerate(prog):
        if insn is None:
            continue
        if insn.is_local_call or (insn.is_lddw and insn.src == op.BPF_PSEUDO_FUNC):
            t = pc + 1 + _s32(insn.imm)
            if t < 0 or t >= n:
                _fail(f"function offset {t} is out of range" if False else
                      f"call to invalid destination")
            starts.add(t)
    starts = sorted(starts)
    bounds = starts + [n]
    subprog_of = [0] * n
    for si in range(len(starts)):
        lo, hi = bounds[si], bounds[si + 1]
        for pc in range(lo, hi):
            subprog_of[pc] = si
        for pc in range(lo, hi):
            insn = prog[pc]
            if insn is None or not insn.is_jmp_class:
                continue
            if insn.is_call or insn.is_exit:
                continue
            t = insn.jump_target(pc)
            if t < lo or t >= hi:
                _fail(f"jump out of range from insn {pc} to {t}")
        last = prog[hi - 1] if prog[hi - 1] is not None else prog[hi - 2]
        if not (last.is_exit or last.is_ja):
            _fail("last insn is not an exit or jmp")
    # check_cfg: every instruction reachable from its subprogram's entry.
    succ: list = [()] * n
    for pc, insn in enumerate(prog):
        if insn is None:
            continue
        s = _succs(insn, pc)
        for t in s:
            if t < n and prog[t] is None:
                _fail(f"jump into the middle of ldimm64 insn {t - 1}")
        succ[pc] = s
    seen = bytearray(n)
    for s0 in starts:
        stack = [s0]
        seen[s0] = 1
        while stack:
            pc = stack.pop()
            for t in succ[pc]:
                if t >= n:
                    _fail("last insn is not an exit or jmp")
                if not seen[t]:
                    seen[t] = 1
                    stack.append(t)
    for pc in range(n):
        if prog[pc] is not None and not seen[pc]:
            _fail(f"unreachable insn {pc}")
    cfg = Cfg()
    cfg.prog, cfg.n, cfg.subprogs, cfg.subprog_of, cfg.succ = prog, n, starts, subprog_of, succ
    prune = set()
    for pc, insn in enumerate(prog):
        if insn is None:
            continue
        # the kernel's visit_insn: conditional jumps themselves, targets of
        # unconditional jumps, calls and their return sites
        if insn.is_ja:
            prune.update(succ[pc])
        elif insn.is_jump:
            prune.add(pc)
        elif insn.is_call:
            prune.add(pc)
            prune.add(pc + 1)
    cfg.prune = prune
    cfg.live_in = _liveness(prog, succ)
    return cfg


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _use_def(insn) -> tuple[int, int]:
    """Registers an instruction reads and writes (bit masks)."""
    cls = insn.cls
    d, s = 1 << insn.dst, 1 << insn.src
    if cls in (op.BPF_ALU, op.BPF_ALU64):
        o = insn.op
        if o == op.BPF_MOV:
            return (s if insn.source == op.BPF_X else 0), d
        if o in (op.BPF_NEG, op.BPF_END):
            return d, d
        return d | (s if insn.source == op.BPF_X else 0), d
    if cls == op.BPF_LDX:
        return s, d
    if cls == op.BPF_ST:
        return d, 0
    if cls == op.BPF_STX:
        if insn.mode == op.BPF_ATOMIC:
            use = d | s
            if insn.imm == op.BPF_CMPXCHG:
                return use | 1, 1
            return use, (s if insn.imm & op.BPF_FETCH else 0)
        return d | s, 0
    if cls == op.BPF_LD:
        if insn.is_lddw:
            return 0, d
        return (1 << 6) | (s if insn.mode == op.BPF_IND else 0), CALLER_SAVED  # LD_ABS/IND use ctx in r6
    if insn.is_call:
        return ARG_REGS, CALLER_SAVED
    if insn.is_exit:
        return 1, 0
    if insn.is_cond_jump:
        return d | (s if insn.source == op.BPF_X else 0), 0
    return 0, 0


def _liveness(prog, succ) -> list[int]:
    n = len(prog)
    ud = [(0, 0) if insn is None else _use_def(insn) for insn in prog]
    live = [0] * n
    changed = True
    while changed:
        changed = False
        for pc in range(n - 1, -1, -1):
            if prog[pc] is None:
                continue
            out = 0
            for t in succ[pc]:
                if t < n:
                    out |= live[t]
            use, df = ud[pc]
            new = use | (out & ~df)
            if new != live[pc]:
                live[pc] = new
                changed = True
    return live
