"""The verifier's main loop (the kernel's do_check), native, for log level 0
(what a load runs; a log is asked for again only when a program fails).

It does exactly what Verifier._do_check does with the log off, and handles
the instructions loops are made of itself: scalar ALU with a register or an
immediate, register and constant moves, unconditional jumps and scalar
conditional jumps (decided ones with their precision marks, undecided ones
refined on both sides; packet pointer against pkt_end: fastpkt.pyx; a map
lookup's NULL check: fastnull.pyx), and the common loads and stores (fastmem.pyx:
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
from dataplane.verifier.fastpkt cimport pkt_cond
from dataplane.verifier.fastnull cimport null_cond
from dataplane.verifier.fastmem cimport (ld_map_fd, lt, mem_load, mem_store, new_scalar, ptr_const, put, set_vb,
                                         top_regs)
from dataplane.verifier.slots cimport getslot, setslot, slot_offset
from dataplane.verifier.visit cimport Visitor
from dataplane.verifier.backtrack cimport Backtracker
from dataplane.verifier.hist cimport Hist
import gc

from dataplane.abi.pseudo import BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_IDX, LDDW_PSEUDO_MAX as _LDDW_PSEUDO_MAX
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
# dispatch._FAST_OPS by opcode operation, as the native bounds' ALU numbers
cdef dict FAST_ALU = {o: _ALU[name] for o, name in dispatch._FAST_OPS.items()}
cdef frozenset JOPS = frozenset([o for o in NEG if o != op.BPF_JCOND])
cdef int SIZE[4]
SIZE[:] = [4, 2, 1, 8]                    # BPF_W, BPF_H, BPF_B, BPF_DW >> 3
cdef int LDDW_PSEUDO_MAX = _LDDW_PSEUDO_MAX
cdef enum:
    P_OTHER, P_FAST, P_MOVK, P_MOVX, P_JA, P_COND, P_STORE, P_LOAD, P_STOREM, P_LDMAP
# plan kinds, for tests (plans())
KINDS = {"other": P_OTHER, "fast": P_FAST, "movk": P_MOVK, "movx": P_MOVX, "ja": P_JA, "cond": P_COND,
         "store": P_STORE, "load": P_LOAD, "storem": P_STOREM, "ldmap": P_LDMAP}


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


cdef inline void const_vb(vb *b, uint64_t v):
    """scalar.const(v): every field from one 64-bit value."""
    cdef uint64_t lo = v & 0xFFFFFFFFu
    b.v, b.m = v, 0
    b.umin = b.umax = v
    b.smin = b.smax = <int64_t>v
    b.u32min = b.u32max = <int64_t>lo
    b.s32min = b.s32max = <int64_t><int>(<unsigned int>lo)


cdef inline bint regs_ok(int dst, int src, bint dst_used, bint src_used):
    """validate._regs accepts the register fields."""
    return (dst <= 10 if dst_used else dst == 0) and (src <= 10 if src_used else src == 0)


cdef bint encoding_ok(int code, int dst, int src, int off, int64_t imm):
    """True when validate.check certainly accepts the encoding (the common
    ALU, jump, load and store forms): the first visit of such an insn needs
    no call into Python.  False means "ask validate.check", which has every
    rule and the error texts."""
    cdef int cls = code & 7, o = code & 0xF0, mode = code & 0xE0
    cdef bint x = (code & 8) != 0
    if cls == 4 or cls == 7:          # ALU, ALU64: not div/mod/neg/end/movsx
        if o > 0xc0 or o == 0x30 or o == 0x80 or o == 0x90 or o == 0xd0 or off:
            return False
        return imm == 0 and regs_ok(dst, src, True, True) if x else regs_ok(dst, src, True, False)
    if cls == 5 or cls == 6:          # JMP, JMP32
        if code == 0x05:              # ja
            return imm == 0 and regs_ok(dst, src, False, False)
        if code == 0x95:              # exit
            return off == 0 and imm == 0 and regs_ok(dst, src, False, False)
        if code == 0x85:              # call
            return off == 0 and dst == 0 and 0 <= src <= 2
        if o == 0x10 or o == 0x20 or o == 0x30 or o == 0x40 or o == 0x50 or o == 0x60 or o == 0x70 \
                or o == 0xa0 or o == 0xb0 or o == 0xc0 or o == 0xd0:       # conditional jumps
            return imm == 0 and regs_ok(dst, src, True, True) if x else regs_ok(dst, src, True, False)
        return False
    if cls == 1:                      # LDX MEM
        return mode == 0x60 and imm == 0 and regs_ok(dst, src, True, True)
    if cls == 2:                      # ST MEM
        return mode == 0x60 and regs_ok(dst, src, True, False)
    if cls == 3:                      # STX MEM
        return mode == 0x60 and imm == 0 and regs_ok(dst, src, True, True)
    if code == 0x18:                  # lddw
        return src <= LDDW_PSEUDO_MAX and off == 0 and regs_ok(dst, src, True, True)
    return False


cdef Plan *make_plans(list prog, bytearray enc_fast) except NULL:
    """The fast-path plan of every slot, straight from the instruction
    fields: what dispatch.plan decides (FAST, MOVK, MOVX, LDX, STORE,
    ATOMIC, LDDW of a map, JA, COND), without building its tuples.
    ``enc_fast[pc]`` = 1 where encoding_ok holds."""
    cdef int n = len(prog), pc, code, cls, o, dst, src, off, mode, sz
    cdef int64_t imm
    cdef bint x, is64
    cdef Plan *p = <Plan *>calloc(n + 1, sizeof(Plan))
    if p == NULL:
        raise MemoryError()
    for pc in range(n):
        insn = prog[pc]
        p[pc].kind = P_OTHER
        if insn is None:
            continue
        code, dst, src, off = insn.opcode, insn.dst, insn.src, insn.off
        imm = insn.imm if code != 0x18 else 0      # (lddw: 64-bit, read below)
        if encoding_ok(code, dst, src, off, imm):
            enc_fast[pc] = 1
        cls, o, mode = code & 7, code & 0xF0, code & 0xE0
        x = (code & 8) != 0
        if cls == 4 or cls == 7:
            is64 = cls == 7
            if dst == 10:
                continue
            if o == 0xb0:             # mov
                if not x:
                    p[pc].kind = P_MOVK
                    p[pc].dst = dst
                    const_vb(&p[pc].k, <uint64_t>imm if is64 else <uint64_t>imm & 0xFFFFFFFFu)
                elif is64 and off == 0:
                    p[pc].kind = P_MOVX
                    p[pc].dst, p[pc].src = dst, src
                continue
            a = FAST_ALU.get(o)
            if a is None:
                continue
            if o == 0x60 or o == 0x70 or o == 0xc0:       # shifts
                if x or not 0 <= imm < (64 if is64 else 32):
                    continue
            p[pc].kind = P_FAST
            p[pc].alu = a
            p[pc].dst, p[pc].src, p[pc].alu32 = dst, src if x else -1, not is64
            if not x:
                const_vb(&p[pc].k, <uint64_t>imm)
        elif cls == 1:
            if mode == 0x60:
                p[pc].kind = P_LOAD
                p[pc].dst, p[pc].src, p[pc].off, p[pc].size = dst, src, off, SIZE[(code >> 3) & 3]
        elif cls == 2 or cls == 3:
            if mode == 0x60:
                p[pc].kind = P_STOREM     # fastmem, else as P_STORE
                p[pc].dst, p[pc].off, p[pc].size = dst, off, SIZE[(code >> 3) & 3]
                if cls == 3:
                    p[pc].src = src
                else:
                    p[pc].src = -1
                    const_vb(&p[pc].k, <uint64_t>imm)
            else:
                p[pc].kind = P_STORE      # writes the stack: stack liveness write marks
        elif cls == 0:
            if code == 0x18 and (src == BPF_PSEUDO_MAP_FD or src == BPF_PSEUDO_MAP_IDX):
                p[pc].kind = P_LDMAP
                p[pc].dst = dst
                fd = insn.imm & 0xFFFFFFFF
                p[pc].target = fd - (1 << 32) if fd & 0x80000000 else fd
        elif code == 0x05 or code == 0x06:          # ja, gotol
            p[pc].kind = P_JA
            p[pc].target = pc + 1 + (insn.imm if code == 0x06 else off)     # (OverflowError as before)
        elif code != 0x85 and code != 0x8d and code != 0x95 and o in JOPS:   # conditional jumps
            p[pc].kind = P_COND
            p[pc].dst = dst
            p[pc].jop, p[pc].njop = o, NEG[o]
            p[pc].alu32 = cls == 6
            p[pc].target = pc + 1 + off
            if x:
                p[pc].src = src
            else:
                p[pc].src = -1
                const_vb(&p[pc].k, <uint64_t>imm if cls == 5 else <uint64_t>imm & 0xFFFFFFFFu)
    return p


def plans(list prog) -> list:
    """The native plans as tuples (kind, alu, dst, src, alu32, jop, njop,
    target, off, size, k as scalar.py bounds or None, encoding_ok), for
    tests comparing them with dispatch.plan."""
    cdef int n = len(prog), pc
    cdef bytearray enc = bytearray(n + 1)
    cdef Plan *p = make_plans(prog, enc)
    out = []
    try:
        for pc in range(n):
            k = pack(&p[pc].k) if p[pc].kind in (P_FAST, P_MOVK, P_STOREM, P_COND) else None
            out.append((p[pc].kind, p[pc].alu, p[pc].dst, p[pc].src, p[pc].alu32, p[pc].jop, p[pc].njop,
                        p[pc].target, p[pc].off, p[pc].size, k, enc[pc]))
    finally:
        free(p)
    return out


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
    cdef bytearray enc_fast = bytearray(n + 1)
    cdef Plan *plans = make_plans(prog, enc_fast)
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
    cdef Backtracker bt = v.bt     # typed: a decided branch's marks are a C call, not a method lookup
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
                if enc_fast[pc] or encoding_problem(prog[pc]) is None:
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


cdef int cond(v, st, Plan *p, int pc, Backtracker bt) except -2:
    """check_cond_jmp for scalar operands (-1: not handled here)."""
    cdef list regs = top_regs(st), oregs
    cdef vb a, b, ta, tb, fa, fb
    cdef int pred
    cdef bint same
    d = <object>PyList_GET_ITEM(regs, p.dst)
    if lt(d) != SCALAR:
        if p.src >= 0 and not p.alu32:
            return pkt_cond(v, st, pc, p.dst, p.src, p.jop, p.target)    # pkt vs pkt_end, else -1
        if p.src < 0 and not p.alu32 and p.k.v == 0 and p.k.m == 0:
            return null_cond(v, st, pc, p.dst, p.jop, p.target)          # map value vs NULL, else -1
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
