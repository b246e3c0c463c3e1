"""The CFG passes of cfg.build in native code, for programs that pass them:
successors (verifier and kernel flavours), subprogram ranges, jump ranges,
reachability, SCC numbers (compute_scc) and register liveness
(compute_live_registers).  They run once per program over every
instruction, which in Python cost about a third of a typical verification.

``build`` returns None as soon as the program breaks any rule; cfg.py then
runs its Python passes, which are the reference and raise the kernel's
error for the first broken rule (tests/test_verifier_cfgscan.py compares
both on the corpus and on fuzzed programs).
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.stdlib cimport calloc, free

from dataplane.abi.pseudo import BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC
from dataplane.isa import opcodes as op

cdef int OP_LDDW = op.OP_LDDW, OP_CALL = op.OP_CALL, OP_CALLX = op.OP_CALLX, OP_EXIT = op.OP_EXIT
cdef int OP_JA = op.OP_JA, OP_GOTOL = op.OP_GOTOL, OP_JCOND = op.BPF_JMP | op.BPF_JCOND
cdef int PSEUDO_CALL = BPF_PSEUDO_CALL, PSEUDO_FUNC = BPF_PSEUDO_FUNC
cdef int ALL_REGS = (1 << 11) - 1, ARG_REGS = 0b111110, CALLER_SAVED = 0b111111
cdef uint8_t COND[256]          # opcode is a conditional jump (is_cond_jump)
for _c in range(256):
    COND[_c] = (_c & 7) in (op.BPF_JMP, op.BPF_JMP32) and (_c & 0xF0) in op.JMP_COND_OPS


cdef struct Insn:
    int code, dst, src, off
    int32_t imm          # low 32 bits, signed (all the passes use)
    int valid            # 0: the second slot of an lddw


cdef inline int target(Insn *i, int pc):
    """Instruction.jump_target for a jump (gotol: imm; local call: imm)."""
    if i.code == OP_GOTOL or (i.code == OP_CALL and i.src == PSEUDO_CALL):
        return pc + 1 + i.imm
    return pc + 1 + i.off


cdef inline bint is_jmp_class(int code):
    return (code & 7) == 5 or (code & 7) == 6


cdef inline bint is_ja(int code):
    return code == OP_JA or code == OP_GOTOL


cdef inline int ksuccs(Insn *p, int n, int pc, int *out):
    """cfg._kernel_succs into out[0..1]; the count."""
    cdef Insn *i = &p[pc]
    if not i.valid:
        if pc + 1 < n:
            out[0] = pc + 1
            return 1
        return 0
    if i.code == OP_EXIT:
        return 0
    cdef int nxt = pc + (2 if i.code == OP_LDDW else 1)
    if is_ja(i.code):
        out[0] = target(i, pc)
        return 1
    if COND[i.code] or i.code == OP_JCOND:
        out[0] = nxt
        out[1] = target(i, pc)
        return 2
    out[0] = nxt
    return 1


cdef inline int use_def(Insn *i, int *df, object insn, object call_params) except -1:
    """cfg._use_def: the registers read (returned) and written (``df``)."""
    cdef int code = i.code, cls = code & 7, o = code & 0xF0, mode = code & 0xE0
    cdef int d = 1 << i.dst, s = 1 << i.src, x = code & 0x08
    df[0] = 0
    if cls == 4 or cls == 7:            # ALU, ALU64
        df[0] = d
        if o == 0xB0:                   # mov
            return s if x else 0
        if o == 0xD0:                   # end
            return d
        return d | (s if x else 0)
    if cls == 1:                        # LDX
        if mode == 0x60 or mode == 0x80:
            df[0] = d
            return s
        return ALL_REGS
    if cls == 2:                        # ST
        return d if mode == 0x60 else ALL_REGS
    if cls == 3:                        # STX
        if mode == 0xC0:
            if i.imm == op.BPF_CMPXCHG:
                df[0] = 1
                return d | s | 1
            df[0] = s if i.imm & op.BPF_FETCH else 0
            return d | s
        return d | s if mode == 0x60 else ALL_REGS
    if cls == 0:                        # LD
        if code == OP_LDDW:
            df[0] = d
            return 0
        return ALL_REGS
    if code == OP_CALL or code == OP_CALLX:
        k = call_params(insn) if call_params is not None else None
        df[0] = CALLER_SAVED
        return ARG_REGS if k is None else ((1 << (<int>k + 1)) - 1) & ~1
    if code == OP_EXIT:
        return 1
    if is_ja(code) or code == OP_JCOND:
        return 0
    if COND[code]:
        return d | (s if x else 0)
    return ALL_REGS


def build(list prog, call_params):
    """(subprogs, subprog_of, succ, ksucc, scc, live_in) of a slot program,
    or None if it breaks a CFG rule (cfg.build's Python passes say which)."""
    cdef int n = len(prog), pc, t, k, si, lo, hi, m, w, sp, top, dtop
    cdef int buf[2]
    cdef Insn *p = <Insn *>calloc(n + 1, sizeof(Insn))
    cdef int *ks = <int *>calloc(2 * n + 2, sizeof(int))      # kernel successors, 2 per insn
    cdef int *kn = <int *>calloc(n + 1, sizeof(int))
    cdef uint8_t *start = <uint8_t *>calloc(n + 1, 1)
    cdef uint8_t *seen = <uint8_t *>calloc(n + 1, 1)
    cdef int *stack = <int *>calloc(n + 1, sizeof(int))
    cdef int *dfs = <int *>calloc(n + 1, sizeof(int))
    cdef int64_t *pre = <int64_t *>calloc(n + 1, sizeof(int64_t))
    cdef int64_t *low = <int64_t *>calloc(n + 1, sizeof(int64_t))
    cdef int *sccs = <int *>calloc(n + 1, sizeof(int))
    cdef int *use = <int *>calloc(n + 1, sizeof(int))
    cdef int *dfn = <int *>calloc(n + 1, sizeof(int))
    cdef int *live = <int *>calloc(n + 1, sizeof(int))
    cdef int *npred = <int *>calloc(n + 2, sizeof(int))
    cdef int *preds = <int *>calloc(2 * n + 2, sizeof(int))
    cdef int *pfill = <int *>calloc(n + 1, sizeof(int))
    cdef int64_t next_pre, not_on_stack
    cdef int next_scc, outm, new, u
    cdef bint pushed, assign
    cdef Insn *i
    try:
        if n == 0 or not (p and ks and kn and start and seen and stack and dfs and pre and low and sccs
                          and use and dfn and live and npred and preds and pfill):
            return None
        for pc in range(n):
            insn = prog[pc]
            if insn is None:
                continue
            p[pc].valid = 1
            p[pc].code, p[pc].dst, p[pc].src, p[pc].off = insn.opcode, insn.dst, insn.src, insn.off
            imm = insn.imm & 0xFFFFFFFF
            p[pc].imm = <int32_t>(imm - (1 << 32) if imm & 0x80000000 else imm)
        # subprogram starts: 0, local call and callback targets
        start[0] = 1
        for pc in range(n):
            i = &p[pc]
            if i.valid and ((i.code == OP_CALL and i.src == PSEUDO_CALL) or
                            (i.code == OP_LDDW and i.src == PSEUDO_FUNC)):
                t = pc + 1 + i.imm
                if t < 0 or t >= n:
                    return None
                start[t] = 1
        subprogs, subprog_of = [], [0] * n
        si = -1
        for pc in range(n):
            if start[pc]:
                subprogs.append(pc)
                si += 1
            subprog_of[pc] = si
        # jumps stay inside their subprogram, which ends with exit or ja
        for si in range(len(subprogs)):
            lo = subprogs[si]
            hi = subprogs[si + 1] if si + 1 < len(subprogs) else n
            for pc in range(lo, hi):
                i = &p[pc]
                if not i.valid or not is_jmp_class(i.code) or i.code == OP_CALL or i.code == OP_CALLX \
                        or i.code == OP_EXIT:
                    continue
                t = target(i, pc)
                if t < lo or t >= hi:
                    return None
            i = &p[hi - 1] if p[hi - 1].valid else &p[hi - 2]
            if not (i.code == OP_EXIT or is_ja(i.code)):
                return None
        # successors (cfg._succs: a conditional jump to the next insn has one)
        succ = [()] * n
        for pc in range(n):
            i = &p[pc]
            if not i.valid:
                continue
            if i.code == OP_EXIT:
                continue
            m = pc + (2 if i.code == OP_LDDW else 1)
            if is_ja(i.code):
                t = target(i, pc)
                if t < n and not p[t].valid:
                    return None
                succ[pc] = (t,)
            elif COND[i.code] or i.code == OP_JCOND:
                t = target(i, pc)
                if (m < n and not p[m].valid) or (t < n and not p[t].valid):
                    return None
                if t != m:
                    succ[pc] = (m, t)
                else:
                    succ[pc] = (m,)
            else:
                if m < n and not p[m].valid:
                    return None
                succ[pc] = (m,)
        # reachability from every subprogram entry
        for s0 in subprogs:
            top = 0
            stack[top] = s0
            top += 1
            seen[<int>s0] = 1
            while top:
                top -= 1
                pc = stack[top]
                for t in succ[pc]:
                    if t >= n:
                        return None
                    if not seen[t]:
                        seen[t] = 1
                        stack[top] = t
                        top += 1
        for pc in range(n):
            if p[pc].valid and not seen[pc]:
                return None
        ksucc = []
        for pc in range(n):
            kn[pc] = ksuccs(p, n, pc, &ks[2 * pc])
            if kn[pc] == 0:
                ksucc.append(())
            elif kn[pc] == 1:
                ksucc.append((ks[2 * pc],))
            else:
                ksucc.append((ks[2 * pc], ks[2 * pc + 1]))
        # compute_scc: cfg._scc step by step (the numbering is the kernel's)
        not_on_stack = (<int64_t>n + 1) << 32
        next_pre, next_scc, sp = 1, 1, 0
        for w in range(n):
            if pre[w]:
                continue
            dtop = 0
            dfs[dtop] = w
            dtop += 1
            while dtop:
                m = dfs[dtop - 1]
                if pre[m] == 0:
                    low[m] = pre[m] = next_pre
                    next_pre += 1
                    stack[sp] = m
                    sp += 1
                pushed = False
                for k in range(kn[m]):
                    t = ks[2 * m + k]
                    if t >= n:
                        continue
                    if pre[t]:
                        if low[t] < low[m]:
                            low[m] = low[t]
                    else:
                        dfs[dtop] = t
                        dtop += 1
                        pushed = True
                        break
                if pushed:
                    continue
                if low[m] < pre[m]:
                    dtop -= 1
                    continue
                assign = stack[sp - 1] != m
                for k in range(kn[m]):
                    if ks[2 * m + k] == m:
                        assign = True
                while True:
                    sp -= 1
                    t = stack[sp]
                    low[t] = not_on_stack
                    if assign:
                        sccs[t] = next_scc
                    if t == m:
                        break
                if assign:
                    next_scc += 1
                dtop -= 1
        # compute_live_registers: least fixed point over predecessors
        for pc in range(n):
            if p[pc].valid:
                use[pc] = use_def(&p[pc], &dfn[pc], prog[pc], call_params)
                for k in range(kn[pc]):
                    t = ks[2 * pc + k]
                    if t < n:
                        npred[t + 1] += 1
        for pc in range(n):
            npred[pc + 1] += npred[pc]
        for pc in range(n):
            if p[pc].valid:
                for k in range(kn[pc]):
                    t = ks[2 * pc + k]
                    if t < n:
                        preds[npred[t] + pfill[t]] = pc
                        pfill[t] += 1
        top = 0
        for pc in range(n - 1, -1, -1):     # popped in index order, as cfg._liveness
            if p[pc].valid:
                stack[top] = pc
                top += 1
                seen[pc] = 2                # queued
        while top:
            top -= 1
            pc = stack[top]
            seen[pc] = 1
            outm = 0
            for k in range(kn[pc]):
                t = ks[2 * pc + k]
                if t < n:
                    outm |= live[t]
            new = use[pc] | (outm & ~dfn[pc])
            if new != live[pc]:
                live[pc] = new
                for k in range(npred[pc], npred[pc + 1]):
                    u = preds[k]
                    if seen[u] != 2:
                        seen[u] = 2
                        stack[top] = u
                        top += 1
        return (subprogs, subprog_of, succ, ksucc, [sccs[k] for k in range(n)], [live[k] for k in range(n)])
    finally:
        free(p); free(ks); free(kn); free(start); free(seen); free(stack); free(dfs); free(pre); free(low)
        free(sccs); free(use); free(dfn); free(live); free(npred); free(preds); free(pfill)
