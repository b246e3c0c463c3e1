"""Static checks before abstract interpretation: subprograms, jump ranges,
reachability (the kernel's check_subprogs + check_cfg), plus a register
liveness pass that state pruning uses to ignore dead registers.

Instructions are addressed by slot index like the kernel (an lddw takes two
slots); ``prog[pc]`` is None for the second half of an lddw.
"""
from __future__ import annotations

from dataplane.errors import VerifierError
from dataplane.isa import opcodes as op
from dataplane.verifier import cfgscan
from dataplane.abi.pseudo import BPF_PSEUDO_FUNC

ALL_REGS = (1 << 11) - 1
ARG_REGS = 0b111110     # r1-r5
CALLER_SAVED = 0b111111  # r0-r5
SYNC_CALLBACK_HELPERS = frozenset({164, 180, 181, 209})   # for_each_map_elem, find_vma, loop, user_ringbuf_drain


class Cfg:
    __slots__ = ("prog", "n", "subprogs", "subprog_of", "succ", "ksucc", "prune", "jmp", "force", "calls_cb",
                 "scc", "live_in", "iter_next")


def _fail(msg: str) -> None:
    raise VerifierError(msg, msg + "\n")


def slot_program(insns) -> list:
    prog = []
    append = prog.append
    for insn in insns:
        append(insn)
        if insn.opcode == op.OP_LDDW:      # the only two-slot instruction
            append(None)
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


def build(insns, call_params=None) -> Cfg:
    """``call_params(insn)``: how many argument registers a helper or kfunc
    call reads (None: r1-r5), for the liveness analysis."""
    prog = slot_program(insns)
    fast = cfgscan.build(prog, call_params)
    if fast is None:            # a rule is broken: the reference passes name it
        return build_py(prog, call_params)
    cfg = Cfg()
    cfg.prog, cfg.n = prog, len(prog)
    cfg.subprogs, cfg.subprog_of, cfg.succ, cfg.ksucc, cfg.scc, cfg.live_in = fast
    _mark_points(cfg)
    return cfg


def build_py(prog, call_params=None) -> Cfg:
    """cfg.build's passes in Python (cfgscan.pyx runs the same natively):
    the reference, and the one that raises the error of a broken rule."""
    n = len(prog)
    if n == 0:
        _fail("last insn is not an exit or jmp")
    # Subprograms start at 0 and at every bpf-to-bpf call / callback target.
    starts = {0}
    for pc, insn in enumerate(prog):
        if insn is None:
            continue
        if insn.is_local_call or (insn.is_lddw and insn.src == BPF_PSEUDO_FUNC):
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
    cfg.ksucc = [_kernel_succs(prog, pc) for pc in range(n)]
    _mark_points(cfg)
    cfg.scc = _scc(prog, cfg.ksucc)
    cfg.live_in = _liveness(prog, cfg.ksucc, call_params)
    return cfg


def _mark_points(cfg) -> None:
    """The kernel's visit_insn marks: prune points (where is_state_visited
    runs), jump points (where a jump history entry records a non-linear
    step, for precision backtracking), forced checkpoints and the
    callback-calling instructions."""
    prog, succ = cfg.prog, cfg.succ
    prune, jmp, force, calls_cb = set(), set(), set(), set()
    for pc, insn in enumerate(prog):
        if insn is None:
            continue
        # the opcode's fields, not Instruction's properties: this runs on
        # every instruction of every load
        code = insn.opcode
        if code & 0x07 != op.BPF_JMP and code & 0x07 != op.BPF_JMP32:
            if code == op.OP_LDDW and insn.src == BPF_PSEUDO_FUNC:   # visit_func_call_insn(visit_callee)
                prune.update((pc, pc + 2))
                jmp.add(pc + 2)
                w = pc + 1 + _s32(insn.imm)
                prune.add(w)
                jmp.add(w)
            continue
        if code == op.OP_EXIT:
            continue
        if insn.is_call:
            if insn.is_helper_call and insn.imm in SYNC_CALLBACK_HELPERS:
                calls_cb.add(pc)
                force.add(pc)
                prune.add(pc)
                jmp.add(pc)
            prune.add(pc + 1)
            jmp.add(pc + 1)
            if insn.is_local_call:
                prune.add(pc)
                w = pc + 1 + _s32(insn.imm)
                prune.add(w)
                jmp.add(w)
        elif insn.is_ja:
            prune.update(succ[pc])
            jmp.update(succ[pc])
        else:   # conditional jump (and may_goto): the insn and its branch target
            prune.add(pc)
            t = insn.jump_target(pc)
            prune.add(t)
            jmp.add(t)
    cfg.prune, cfg.jmp, cfg.force, cfg.calls_cb = prune, jmp, force, calls_cb
    cfg.iter_next = set()       # mark_iter_next: the verifier's, which knows the kfuncs


def mark_iter_next(cfg, pcs) -> None:
    """visit_insn for an iterator's next() kfunc call: a prune point and a
    forced checkpoint (its loop converges there, iters.py)."""
    for pc in pcs:
        cfg.iter_next.add(pc)
        cfg.prune.add(pc)
        cfg.force.add(pc)


def _kernel_succs(prog, pc: int) -> tuple:
    """bpf_insn_successors: calls fall through (intraprocedural), exits end."""
    insn = prog[pc]
    if insn is None:            # second half of an lddw: reached by nothing
        return (pc + 1,) if pc + 1 < len(prog) else ()
    if insn.is_exit:
        return ()
    nxt = pc + insn.slots
    if insn.is_ja:
        return (insn.jump_target(pc),)
    if insn.is_cond_jump or insn.opcode == (op.BPF_JMP | op.BPF_JCOND):
        return (nxt, insn.jump_target(pc))
    return (nxt,)


def _scc(prog, succs) -> list[int]:
    """compute_scc: an SCC number (1..) for every instruction on a loop of
    the control flow graph (a component of two or more instructions or with
    a self edge), 0 elsewhere.  Tarjan's algorithm, iteratively, visiting
    instructions in index order as the kernel does (the numbering is the
    kernel's too)."""
    n = len(prog)
    NOT_ON_STACK = n + 1 << 32
    pre, low, scc = [0] * n, [0] * n, [0] * n
    next_pre, next_scc = 1, 1
    for i in range(n):
        if pre[i]:
            continue
        stack, dfs = [], [i]
        while dfs:
            w = dfs[-1]
            if pre[w] == 0:
                low[w] = pre[w] = next_pre
                next_pre += 1
                stack.append(w)
            pushed = False
            for s in succs[w]:
                if s >= n:
                    continue
                if pre[s]:
                    low[w] = min(low[w], low[s])
                else:
                    dfs.append(s)
                    pushed = True
                    break
            if pushed:
                continue
            if low[w] < pre[w]:
                dfs.pop()
                continue
            assign = stack[-1] != w or w in succs[w]
            while True:
                t = stack.pop()
                low[t] = NOT_ON_STACK
                if assign:
                    scc[t] = next_scc
                if t == w:
                    break
            if assign:
                next_scc += 1
            dfs.pop()
    return scc


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _use_def(insn, call_params) -> tuple[int, int]:
    """compute_insn_live_regs: registers an instruction reads and writes (bit masks)."""
    cls = insn.cls
    d, s = 1 << insn.dst, 1 << insn.src
    if cls in (op.BPF_ALU, op.BPF_ALU64):
        o = insn.op
        if o == op.BPF_MOV:
            return (s if insn.source == op.BPF_X else 0), d
        if o == op.BPF_END:
            return d, d
        return d | (s if insn.source == op.BPF_X else 0), d
    if cls == op.BPF_LDX:
        if insn.mode in (op.BPF_MEM, op.BPF_MEMSX):
            return s, d
        return ALL_REGS, 0
    if cls == op.BPF_ST:
        return (d, 0) if insn.mode == op.BPF_MEM else (ALL_REGS, 0)
    if cls == op.BPF_STX:
        if insn.mode == op.BPF_ATOMIC:
            use = d | s
            if insn.imm == op.BPF_CMPXCHG:
                return use | 1, 1
            return use, (s if insn.imm & op.BPF_FETCH else 0)
        if insn.mode == op.BPF_MEM:
            return d | s, 0
        return ALL_REGS, 0
    if cls == op.BPF_LD:
        if insn.is_lddw:
            return 0, d
        return ALL_REGS, 0      # LD_ABS/IND: the kernel keeps every register alive
    if insn.is_call:
        n = call_params(insn) if call_params is not None else None
        use = ARG_REGS if n is None else ((1 << (n + 1)) - 1) & ~1
        return use, CALLER_SAVED
    if insn.is_exit:
        return 1, 0
    if insn.is_ja or insn.opcode == (op.BPF_JMP | op.BPF_JCOND):
        return 0, 0
    if insn.is_cond_jump:
        return d | (s if insn.source == op.BPF_X else 0), 0
    return ALL_REGS, 0


def _liveness(prog, succs, call_params=None) -> list[int]:
    """compute_live_registers: registers that may be read before being
    written, at each instruction (intraprocedural: a call falls through).
    The least fixed point, by a worklist over predecessors."""
    n = len(prog)
    ud = [(0, 0) if insn is None else _use_def(insn, call_params) for insn in prog]
    preds: list = [[] for _ in range(n)]
    for pc in range(n):
        if prog[pc] is not None:
            for t in succs[pc]:
                if t < n:
                    preds[t].append(pc)
    live = [0] * n
    work = [pc for pc in range(n) if prog[pc] is not None]
    queued = bytearray(n)
    for pc in work:
        queued[pc] = 1
    while work:
        pc = work.pop()
        queued[pc] = 0
        out = 0
        for t in succs[pc]:
            if t < n:
                out |= live[t]
        use, df = ud[pc]
        new = use | (out & ~df)
        if new != live[pc]:
            live[pc] = new
            for p in preds[pc]:
                if not queued[p]:
                    queued[p] = 1
                    work.append(p)
    return live
