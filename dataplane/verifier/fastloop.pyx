"""The verifier's main loop (the kernel's do_check), native, for log level 0
(what a load runs; a log is asked for again only when a program fails).

It does exactly what Verifier._do_check does with the log off, and handles
the instructions loops are made of itself: scalar ALU with a register or an
immediate, register and constant moves, unconditional jumps and scalar
conditional jumps (decided ones with their precision marks, undecided ones
refined on both sides), and the common loads and stores (fastmem.pyx:
constant-offset stack, packet, map value and memory accesses that pass,
map fd loads, constant pointer offsets).
Everything else (ctx, calls, pointer arithmetic, exits, ids to keep in
sync, every access that fails) goes to the same Python methods the logging
loop calls, so there is one set of rules; tests/test_verifier_fastloop.py
runs both loops on the same programs and compares the results.
"""
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free
from cpython.list cimport PyList_GET_ITEM

from dataplane.verifier.bounds cimport VB_PYTHON, vb, vb_alu, vb_branch_taken, vb_refine, vb_valid
from dataplane.verifier.fastmem cimport (ld_map_fd, lt, mem_load, mem_store, new_scalar, ptr_const, put, set_vb,
                                         top_regs)
from dataplane.verifier.slots cimport getslot, setslot, slot_offset
from dataplane.verifier.visit cimport Visitor
from dataplane.verifier.hist cimport Hist
import gc

from dataplane.abi.pseudo import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX
from dataplane.isa import opcodes as op
from dataplane.isa.validate import check as encoding_problem
from dataplane.verifier import dispatch, scalar
from dataplane.verifier.branch import NEG
from dataplane.verifier.explore import BUDGET_EVERY, offer_gil
from dataplane.verifier.reg import Reg, SCALAR as _SCALAR, NOT_INIT as _NOT_INIT
from dataplane.verifier.state import State

cdef long SCALAR = _SCALAR, NOT_INIT = _NOT_INIT
cdef Py_ssize_t R_VO = slot_offset(Reg, "vo")
cdef Py_ssize_t R_UMIN = slot_offset(Reg, "umin"), R_UMAX = slot_offset(Reg, "umax")
cdef Py_ssize_t R_SMIN = slot_offset(Reg, "smin"), R_SMAX = slot_offset(Reg, "smax")
cdef Py_ssize_t R_U32MIN = slot_offset(Reg, "u32min"), R_U32MAX = slot_offset(Reg, "u32max")
cdef Py_ssize_t R_S32MIN = slot_offset(Reg, "s32min"), R_S32MAX = slot_offset(Reg, "s32max")
cdef Py_ssize_t R_ID = slot_offset(Reg, "id")
cdef Py_ssize_t S_INSN = slot_offset(State, "insn")
cdef Py_ssize_t S_LAST = slot_offset(State, "last_insn"), S_HIST = slot_offset(State, "hist")

cdef object ZERO = 0
cdef dict _ALU = {"add": 0, "sub": 1, "mul": 2, "and": 3, "or": 4, "xor": 5, "lsh": 6, "rsh": 7, "arsh": 8}
cdef enum:
    P_OTHER, P_FAST, P_MOVK, P_MOVX, P_JA, P_COND, P_STORE, P_LOAD, P_STOREM, P_LDMAP


cdef inline int load(object r, vb *b) except -1:
    """A register's bounds into ``b`` (OverflowError if they do not fit)."""
    vo = <tuple>getslot(r, R_VO)
    b.v = vo[0]
    b.m = vo[1]
    b.umin = getslot(r, R_UMIN)
    b.umax = getslot(r, R_UMAX)
    b.smin = getslot(r, R_SMIN)
    b.smax = getslot(r, R_SMAX)
    b.u32min = getslot(r, R_U32MIN)
    b.u32max = getslot(r, R_U32MAX)
    b.s32min = getslot(r, R_S32MIN)
    b.s32max = getslot(r, R_S32MAX)
    return 0


cdef Plan *make_plans(list prog, list plans) except NULL:
    cdef int n = len(prog), pc
    cdef Plan *p = <Plan *>calloc(n + 1, sizeof(Plan))
    if p == NULL:
        raise MemoryError()
    for pc in range(n):
        insn = prog[pc]
        pl = plans[pc]
        p[pc].kind = P_OTHER
        if insn is None or pl is None:
            continue
        kind, args = pl
        if kind == dispatch.FAST:
            name, dst, src, kb, alu32 = args
            p[pc].kind = P_FAST
            p[pc].alu = _ALU[name]
            p[pc].dst, p[pc].src, p[pc].alu32 = dst, src, alu32
            if kb is not None:
                set_vb(&p[pc].k, kb)
        elif kind == dispatch.MOVK:
            p[pc].kind = P_MOVK
            p[pc].dst = insn.dst
            set_vb(&p[pc].k, args)
        elif kind == dispatch.MOVX:
            p[pc].kind = P_MOVX
            p[pc].dst, p[pc].src = args
        elif kind == dispatch.LDX and insn.mode == op.BPF_MEM:
            p[pc].kind = P_LOAD
            p[pc].dst, p[pc].src, p[pc].off, p[pc].size = insn.dst, insn.src, insn.off, op.SIZE_BYTES[insn.size]
        elif kind == dispatch.STORE and insn.mode == op.BPF_MEM:
            p[pc].kind = P_STOREM     # fastmem, else as P_STORE
            p[pc].dst, p[pc].off, p[pc].size = insn.dst, insn.off, op.SIZE_BYTES[insn.size]
            if insn.cls == op.BPF_STX:
                p[pc].src = insn.src
            else:
                p[pc].src = -1
                set_vb(&p[pc].k, scalar.const(insn.imm))
        elif kind == dispatch.STORE or kind == dispatch.ATOMIC:
            p[pc].kind = P_STORE      # writes the stack: stack liveness write marks
        elif kind == dispatch.LDDW and insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX):
            p[pc].kind = P_LDMAP
            p[pc].dst = insn.dst
            fd = insn.imm & 0xFFFFFFFF
            p[pc].target = fd - (1 << 32) if fd & 0x80000000 else fd
        elif kind == dispatch.JA:
            p[pc].kind = P_JA
            p[pc].target = insn.jump_target(pc)
        elif kind == dispatch.COND and insn.op in NEG and insn.op != op.BPF_JCOND:
            p[pc].kind = P_COND
            p[pc].dst = insn.dst
            p[pc].jop, p[pc].njop = insn.op, NEG[insn.op]
            p[pc].alu32 = insn.cls == op.BPF_JMP32
            p[pc].target = insn.jump_target(pc)
            if insn.source == op.BPF_X:
                p[pc].src = insn.src
            else:
                p[pc].src = -1
                set_vb(&p[pc].k, scalar.const(insn.imm if insn.cls == op.BPF_JMP else insn.imm & scalar.M32))
    return p


cdef inline tuple pack(vb *b):
    return ((b.v, b.m), b.umin, b.umax, b.smin, b.smax, b.u32min, b.u32max, b.s32min, b.s32max)


cdef vb UNK
set_vb(&UNK, scalar.UNKNOWN)


def run(v, st, long limit):
    """Verifier._do_check with the log off, from the initial state ``st``;
    ``limit``: the complexity limit (processed instructions)."""
    cdef list prog = v.prog
    cdef int n = len(prog), pc = 0, npc, k
    cdef long processed = v.insn_processed
    cdef bint budget = v.deadline is not None or v.cancel is not None
    cdef Plan *plans = make_plans(prog, dispatch.plan(prog))
    cdef Plan *p
    cdef unsigned char *prune = <unsigned char *>calloc(n + 1, 1)
    cdef unsigned char *jmp = <unsigned char *>calloc(n + 1, 1)
    cdef unsigned char *seen = <unsigned char *>calloc(n + 1, 1)
    cdef bytearray enc_ok = v.enc_ok
    cdef vb a, b, out, oa, ob
    cdef int pred
    cdef bint first
    cdef list regs
    if prune == NULL or jmp == NULL or seen == NULL:
        raise MemoryError()
    for x in v.cfg.prune:
        prune[x] = 1
    for x in v.cfg.jmp:
        jmp[x] = 1
    live = v.live
    bt = v.bt
    cdef Visitor visitor = v.visitor
    cdef Hist ent
    step, path_done = v.step, v._path_done
    v.prev_pc = -1
    # no collector passes while exploring: a full pass over the states of a
    # long loop holds the GIL for hundreds of ms (the service's other RPCs
    # wait); states form no reference cycles, so nothing accumulates, and
    # the collector is back on when the exploration ends
    gc_was = gc.isenabled()
    gc.disable()
    try:
        while True:
            processed += 1
            v.insn_processed = processed
            if processed > limit:
                v.fail(f"BPF program is too large. Processed {processed} insn")
            if not processed % BUDGET_EVERY:
                # long native stretches (a loop of scalar ALU and branches)
                # never enter the eval loop: let a thread asking for the GIL
                # (the service's RPCs) have it, as bytecode would every 0.5 ms
                offer_gil()
                if budget:
                    v._check_budget()
            prev = v.prev_pc
            setslot(st, S_LAST, prev)
            setslot(st, S_INSN, pc)
            v.cur_pc = pc
            v.cur_hist = None
            if prune[pc] and visitor.visit(st, pc):
                nxt = path_done(st)
                if nxt is None:
                    return
                st, pc = nxt
                continue
            if jmp[pc]:     # push_hist (explore.py), inline
                ent = Hist.__new__(Hist)
                ent.idx, ent.prev, ent.flags, ent.linked = pc, prev, 0, None
                (<list>getslot(st, S_HIST)).append(ent)
                v.cur_hist = ent
            seen[pc] = 1
            p = &plans[pc]
            first = not enc_ok[pc]
            k = p.kind
            if first:
                # step's first-visit encoding check, here so that the fast
                # paths serve first visits too (most visits of a loop-free
                # program); as the logging loop, a first visit's write marks
                # are reset and committed whatever the instruction
                if encoding_problem(prog[pc]) is None:
                    enc_ok[pc] = 1
                else:
                    k = P_OTHER         # step raises the error
                live.reset_write(st, pc)
            npc = -1
            if k == P_FAST:
                regs = top_regs(st)
                d = <object>PyList_GET_ITEM(regs, p.dst)
                if lt(d) != SCALAR and p.src < 0 and p.alu <= 1 and not p.alu32:
                    npc = ptr_const(v, st, pc, p.dst, p.alu == 1, p.k.smin)    # pointer += / -= constant
                elif lt(d) == SCALAR:
                    try:
                        load(d, &a)
                        if p.src >= 0:
                            s = <object>PyList_GET_ITEM(regs, p.src)
                            if lt(s) != SCALAR:
                                raise OverflowError
                            load(s, &b)
                        else:
                            b = p.k
                        if vb_alu(p.alu, &a, &b, p.alu32, &out) == VB_PYTHON:
                            raise OverflowError
                        put(regs, p.dst, new_scalar(&out if vb_valid(&out) else &UNK, ZERO))
                        npc = pc + 1
                    except OverflowError:
                        npc = -1
            elif k == P_MOVK:
                put(top_regs(st), p.dst, new_scalar(&p.k, ZERO))
                npc = pc + 1
            elif k == P_MOVX:
                regs = top_regs(st)
                s = <object>PyList_GET_ITEM(regs, p.src)
                if lt(s) != NOT_INIT:
                    if lt(s) == SCALAR and not getslot(s, R_ID) and (<tuple>getslot(s, R_VO))[1] != 0:
                        s = v._with_new_id(st, p.src, s)   # a later compare refines both
                    put(regs, p.dst, s.copy())
                    npc = pc + 1
            elif k == P_JA:
                v.jmps_processed += 1
                npc = p.target
            elif k == P_COND:
                npc = cond(v, st, p, pc, bt)
            elif k == P_LDMAP:
                npc = ld_map_fd(v, st, pc, p.dst, p.target)
            elif k == P_LOAD:
                npc = mem_load(v, st, pc, p.dst, p.src, p.off, p.size)
            elif k == P_STOREM:
                npc = mem_store(v, st, pc, p.dst, p.src, p.off, p.size, &p.k)
            if npc >= 0:
                if first and k != P_STOREM:     # (mem_store committed its own)
                    live.commit()
            else:
                if k == P_STORE or k == P_STOREM or first:
                    # as the logging loop: the write marks of this instruction
                    live.reset_write(st, pc)
                    res = step(st, prog[pc], pc)
                    live.commit()
                else:
                    res = step(st, prog[pc], pc)
                npc = -2 if res is None else res
            v.prev_pc = pc
            if npc == -2:     # path finished at a program exit
                nxt = path_done(st)
                if nxt is None:
                    return
                st, pc = nxt
                continue
            pc = npc
    finally:
        v._drop_states(st)        # before the collector is back on (explore.py says why)
        if gc_was:
            gc.enable()
        aux = v.aux
        for i in range(n):
            if seen[i] and aux[i] is not None:
                aux[i].seen = True
        free(plans)
        free(prune)
        free(jmp)
        free(seen)


cdef int cond(v, st, Plan *p, int pc, bt) except -2:
    """check_cond_jmp for scalar operands (-1: not handled here)."""
    cdef list regs = top_regs(st), oregs
    cdef vb a, b, ta, tb, fa, fb
    cdef int pred
    cdef bint same
    d = <object>PyList_GET_ITEM(regs, p.dst)
    if lt(d) != SCALAR:
        return -1
    s = None
    if p.src >= 0:
        s = <object>PyList_GET_ITEM(regs, p.src)
        if lt(s) != SCALAR:
            return -1
    try:
        load(d, &a)
        if s is not None:
            load(s, &b)
        else:
            b = p.k
    except OverflowError:
        return -1
    v.jmps_processed += 1
    same = p.src == p.dst
    pred = vb_branch_taken(p.jop, &a, &b, p.alu32, same)
    if pred >= 0:
        bt.mark_reg(st, p.dst)         # the decision relied on the operands' values
        if s is not None:
            bt.mark_reg(st, p.src)
        return p.target if pred == 1 else pc + 1
    if getslot(d, R_ID) or (s is not None and getslot(s, R_ID)):
        return branch_py(v, st, p, pc, d, s)     # linked ids: the Python path keeps them in sync
    if same:
        v.push_branch(st.copy(), p.target, pc)
        return pc + 1
    if vb_refine(p.jop, &a, &b, p.alu32, &ta, &tb) == VB_PYTHON or \
            vb_refine(p.njop, &a, &b, p.alu32, &fa, &fb) == VB_PYTHON:
        return branch_py(v, st, p, pc, d, s)
    other = st.copy()
    oregs = top_regs(other)
    put(oregs, p.dst, new_scalar(&ta if vb_valid(&ta) else &UNK, ZERO))
    put(regs, p.dst, new_scalar(&fa if vb_valid(&fa) else &UNK, ZERO))
    if s is not None:
        put(oregs, p.src, new_scalar(&tb if vb_valid(&tb) else &UNK, ZERO))
        put(regs, p.src, new_scalar(&fb if vb_valid(&fb) else &UNK, ZERO))
    v.push_branch(other, p.target, pc)
    return pc + 1


cdef int branch_py(v, st, Plan *p, int pc, d, s) except -2:
    """The undecided branch in Python (branch._scalar_branch): linked ids,
    values too wide for the native bounds."""
    insn = v.prog[pc]
    if s is None:
        s = v._imm_operand(insn)
    return v._scalar_branch(st, insn, d, s, p.jop, p.alu32, p.target, pc + 1, pc)
