"""The verifier's main loop (the kernel's do_check): depth-first exploration
of every path with a stack of pending branch states, checkpoints at prune
points for state pruning and infinite-loop detection, the complexity limit,
exits (program and subprogram), and the log.

At log level 1 the log holds the trace of the path that failed, like the
kernel's: a finished path's lines are dropped when the next branch resumes.
"""
from __future__ import annotations

import contextlib
import gc

from dataplane.abi.kernel import MODELLED_BEHAVIOUR
from dataplane.abi import kernel
from dataplane.errors import VerifierError
from dataplane.isa import opcodes as op
from dataplane.abi.pseudo import (BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL, BPF_PSEUDO_MAP_FD,
                                  BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE, BPF_PSEUDO_MAP_VALUE)
from dataplane.isa.disasm import format_insn
from dataplane.isa.validate import check as encoding_problem
from dataplane.verifier import cfg as cfgmod
from dataplane.verifier import dispatch, fastloop, iters, rcu
from dataplane.verifier.insn_check import INSNTABLE, whole_program_problem
from dataplane.verifier.linfo import LineAnnotator
from dataplane.verifier.alu import AluMixin
from dataplane.verifier.branch import BranchMixin
from dataplane.abi import helper_protos as hp
from dataplane.verifier.calls import CallsMixin
from dataplane.verifier.explore import BUDGET_EVERY, ExploreMixin
from dataplane.verifier.liveness import StackLiveness
from dataplane.verifier.mem import MemMixin
from dataplane.verifier.precision import PrecisionMixin
from dataplane.verifier.reg import (CTX, NOT_INIT, SCALAR, STACK, Reg, fmt_reg, scalar_const, scalar_from,
                                    scalar_unknown)
from dataplane.verifier.state import Frame, State
from dataplane.verifier.types import InsnAux, VerifiedProgram
from dataplane.verifier.visit import Visitor

COMPLEXITY_LIMIT = 1_000_000
MAX_CALL_FRAMES = 8
GPL_COMPATIBLE = {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL",
                  "Dual MPL/GPL"}


class Reject(Exception):
    pass


@contextlib.contextmanager
def gc_paused():
    """No collector passes while verifying (the exploration loops turn it
    off too): instructions, the CFG, plans and states form no reference
    cycles, and a full pass over a service's heap, which their allocations
    trigger, costs more than a typical verification."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Verifier(AluMixin, MemMixin, BranchMixin, CallsMixin, PrecisionMixin, ExploreMixin, dispatch.DispatchMixin):
    def __init__(self, insns, prog_type="xdp", maps=None, license="GPL", kfuncs=None, log_level=1,
                 allow_uninit_stack=True, objs=None, divmod_ranges=False, line_info=None,
                 deadline=None, cancel=None, max_states=None, kernel=None):
        self.insns = list(insns)
        # where this kernel build differs from the modelled release (abi.kernel.Behaviour)
        self.kernel = kernel or MODELLED_BEHAVIOUR
        self.linfo = LineAnnotator(line_info) if line_info else None   # "; source @ file:N" lines
        self.prog_type = prog_type
        self.maps = maps or {}
        self.gpl = license in GPL_COMPATIBLE
        self.kfuncs = kfuncs or {}
        self.objs = objs or {}
        self.divmod_ranges = divmod_ranges
        self.log_level = log_level
        self.allow_uninit_stack = allow_uninit_stack
        self.lines: list[str] = []
        self.insn_processed = 0
        self.id_gen = 0
        self.total_states = 0
        self.peak_states = 0
        self.max_states_per_insn = 0
        self.max_pkt_offset = 0
        self._init_explore(deadline, cancel, max_states)
        self.store_src = -1       # value register of the store being checked (mem.py)
        self.filled = False       # the last stack read filled a spilled register (mem.py)

    # ---------------------------------------------------------------- log
    def verbose(self, line: str) -> None:
        if self.log_level:
            self.lines.append(line)

    def fail(self, msg: str, summary: str | None = None):
        self.lines.append(msg)
        raise Reject(summary or msg)

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    def fmt_state(self, st: State) -> str:
        f = st.cur
        parts = []
        for i, r in enumerate(f.regs):
            if r.t != NOT_INIT:
                parts.append(f"R{i}={fmt_reg(r)}")
        for spi in sorted(f.stack):
            types, sp = f.stack[spi]
            if sp is not None and "r" in types:
                parts.append(f"fp{-(spi + 1) * 8}={fmt_reg(sp)}")
            elif sp is not None and types == iters.SLOT:
                if sp.ref:
                    parts.append(f"fp{-(spi + 1) * 8}={iters.fmt_slot(sp)}")
            elif types != "????????":
                parts.append(f"fp{-(spi + 1) * 8}={types[::-1].replace('?', '?')}")
        return " ".join(parts)

    # ---------------------------------------------------------------- run
    def run(self) -> VerifiedProgram:
        with gc_paused():
            try:
                return self._run()
            finally:
                # the Visitor points back at the verifier: without this cycle
                # every state of the exploration is freed when the verifier
                # is, instead of waiting for (and costing) a collector pass
                self.visitor = None

    def _run(self) -> VerifiedProgram:
        for insn in self.insns:   # resolve_pseudo_ldimm64's checks: every insn, reachable or not
            code = insn.opcode
            # (only loads, lddw and unknown opcodes can have a problem: the
            # others skip the call, which was a per-insn cost of every load)
            if code & 0x07 == op.BPF_LDX or code == op.OP_LDDW or code not in INSNTABLE:
                why = whole_program_problem(insn)
                if why:
                    self.lines.append(why)
                    raise VerifierError(why, self._final_log())
        self.enc_ok = bytearray(len(self.insns) * 2 + 1)   # per slot: reserved fields checked
        try:
            self.cfg = cfgmod.build(self.insns, self._call_params)
        except VerifierError as e:
            self.lines.append(e.summary)
            raise VerifierError(e.summary, self._final_log()) from None
        self.prog = self.cfg.prog
        cfgmod.mark_iter_next(self.cfg, [pc for pc, insn in enumerate(self.prog)
                                         if insn is not None and insn.opcode == op.OP_CALL
                                         and insn.src == BPF_PSEUDO_KFUNC_CALL and self._is_iter_next(insn)])
        self.live = StackLiveness(self.cfg)
        self._init_precision()
        self.visitor = Visitor(self)
        self.aux = [InsnAux() if i is not None else None for i in self.prog]
        self.stack_depth = [0] * len(self.cfg.subprogs)
        try:
            self._check_lddw()
            self._do_check()
            self._check_max_stack_depth()
        except Reject as e:
            raise VerifierError(str(e), self._final_log()) from None
        log = "\n".join(self._header() + [self._stats_line()]) + "\n" if self.log_level else ""
        return VerifiedProgram(self.insns, log, self.insn_processed, self.stack_depth,
                               list(self.cfg.subprogs), self.aux, self.max_pkt_offset,
                               self.total_states, self.peak_states)

    def _stats_line(self) -> str:
        return (f"processed {self.insn_processed} insns (limit {COMPLEXITY_LIMIT}) max_states_per_insn "
                f"{self.max_states_per_insn} total_states {self.total_states} peak_states "
                f"{self.peak_states} mark_read 0")

    def _header(self) -> list[str]:
        # not a kernel line: says whose verifier this log is and which
        # kernel's behaviour it follows (abi/kernel.py)
        if not self.log_level:
            return []
        diff = self.kernel.differences()
        tail = f"; this build {', '.join(diff)}" if diff else ""
        return [f"; dataplane verifier, {kernel.describe()}{tail}"]

    def _final_log(self) -> str:
        return "\n".join(self._header() + self.lines + [self._stats_line()]) + "\n"

    def _check_lddw(self) -> None:
        """resolve_pseudo_ldimm64: map references must name known maps."""
        for pc, insn in enumerate(self.prog):
            if insn is None or insn.opcode != op.OP_LDDW:
                continue
            if insn.src in (BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE,
                            BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE):
                fd = insn.imm & 0xFFFFFFFF
                fd = fd - (1 << 32) if fd & 0x80000000 else fd
                if fd not in self.maps:
                    self.fail(f"fd {fd} is not pointing to valid bpf_map")
                if insn.src in (BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX_VALUE):
                    m = self.maps[fd]
                    off = insn.imm >> 32
                    if off >= m.value_size:
                        self.fail(f"invalid access to map value pointer, value_size={m.value_size} off={off}")
            elif insn.src not in (0, BPF_PSEUDO_FUNC):
                self.fail("invalid bpf_ld_imm64 insn")

    def _call_params(self, insn):
        """Argument registers a helper or kfunc call reads (None: r1-r5)."""
        if insn.is_helper_call:
            proto = hp.helper_proto(insn.imm)
            if proto is None or self.prog_type not in proto.prog_types:
                return None
            return len(proto.args)
        if insn.is_kfunc_call:
            k = self._kfunc(insn.imm)
            return len(k.args) if k is not None else None
        return None

    def _initial_state(self) -> State:
        st = State()
        f = Frame(0, 0, -1)
        f.regs[1].t = CTX
        st.frames.append(f)
        st.branches = 1
        return st

    def _do_check(self) -> None:
        if not self.log_level:
            # the same loop in native code (fastloop.pyx): what loads run
            fastloop.run(self, self._initial_state(), COMPLEXITY_LIMIT)
            return
        st = self._initial_state()
        pc = 0
        self.prev_pc = -1
        self.verbose(f"0: {self.fmt_state(st)}")
        prog, aux, cfg = self.prog, self.aux, self.cfg
        prune, jmp = cfg.prune, cfg.jmp
        live = self.live
        plans = dispatch.plan(prog)
        seen = bytearray(len(prog))
        budget = self.deadline is not None or self.cancel is not None
        limit = COMPLEXITY_LIMIT
        log = self.log_level
        FAST, MOVK, MOVX, STORE, ATOMIC = dispatch.FAST, dispatch.MOVK, dispatch.MOVX, dispatch.STORE, dispatch.ATOMIC
        fast_alu, fast_movx = self._fast_alu, self._fast_movx
        enc_ok = self.enc_ok
        # no collector passes while exploring, as in fastloop.run: the logged
        # run (a rejected load is verified again with a log) of a long loop
        # otherwise spends 100-200 ms per full pass holding the GIL
        gc_was = gc.isenabled()
        gc.disable()
        try:
            while True:
                n = self.insn_processed = self.insn_processed + 1
                if n > limit:
                    self.fail(f"BPF program is too large. Processed {n} insn")
                if budget and not n % BUDGET_EVERY:
                    self._check_budget()
                st.last_insn = self.prev_pc
                st.insn = self.cur_pc = pc
                self.cur_hist = None
                if pc in prune and self._is_state_visited(st, pc):
                    nxt = self._path_done(st)
                    if nxt is None:
                        return
                    st, pc = nxt
                    continue
                if pc in jmp:
                    self.push_hist(st)
                insn = prog[pc]
                if log:
                    if self.linfo is not None:
                        self._source_line(pc)
                    self.verbose(f"{pc}: {format_insn(insn, helper_name=self._kfunc_name)}")
                seen[pc] = 1
                kind, args = plans[pc]
                if not enc_ok[pc]:      # the first visit checks the encoding (step)
                    kind = -1
                if kind == FAST and fast_alu(st, args):
                    npc = pc + 1
                    if log:
                        self._print_regs(st, insn.dst)
                elif kind == MOVK:
                    st.frames[-1].regs[insn.dst] = scalar_from(args)
                    npc = pc + 1
                    if log:
                        self._print_regs(st, insn.dst)
                elif kind == MOVX and fast_movx(st, args):
                    npc = pc + 1
                    if log:
                        self._print_regs(st, insn.dst)
                elif kind == STORE or kind == ATOMIC or kind == -1:
                    live.reset_write(st, pc)
                    npc = self.step(st, insn, pc)
                    live.commit()
                else:
                    # nothing else writes the stack: stack liveness needs no
                    # write marks here (a call's are committed at the callee's exit)
                    npc = self.step(st, insn, pc)
                self.prev_pc = pc
                if npc is None:   # path finished at a program exit
                    nxt = self._path_done(st)
                    if nxt is None:
                        return
                    st, pc = nxt
                    continue
                pc = npc
        finally:
            self._drop_states(st)     # before the collector is back on (explore.py says why)
            if gc_was:
                gc.enable()
            for pc, a in enumerate(aux):
                if a is not None and seen[pc]:
                    a.seen = True

    def _source_line(self, pc: int) -> None:
        text = self.linfo.note(pc)
        if text is not None:
            self.verbose(text)

    def _is_iter_next(self, insn) -> bool:
        k = self._kfunc(insn.imm)
        return k is not None and iters.is_next(k)

    def _kfunc_name(self, insn):
        if insn.src == BPF_PSEUDO_KFUNC_CALL:
            k = self._kfunc(insn.imm)
            return k.name if k else None
        return None

    def step(self, st: State, insn, pc: int):
        """Execute one instruction on ``st``; the next pc, or None at program exit."""
        if not self.enc_ok[pc]:
            # do_check's reserved-field checks: only where a path gets to
            why = encoding_problem(insn)
            if why:
                self.fail(f"invalid instruction {pc}: {why}")
            self.enc_ok[pc] = 1
        cls = insn.cls
        if cls in (op.BPF_ALU, op.BPF_ALU64):
            self.check_alu(st, insn)
            self._print_regs(st, insn.dst)
            return pc + 1
        if cls == op.BPF_LDX:
            self.check_load(st, insn, pc)
            self._print_regs(st, insn.dst)
            return pc + 1
        if cls in (op.BPF_ST, op.BPF_STX):
            if insn.mode == op.BPF_ATOMIC:
                self.check_atomic(st, insn, pc)
            else:
                self.check_store(st, insn, pc)
            return pc + 1
        if cls == op.BPF_LD:
            if insn.is_lddw:
                self.check_lddw(st, insn, pc)
                self._print_regs(st, insn.dst)
                return pc + 2
            self.check_ld_abs(st, insn)
            return pc + 1
        # JMP / JMP32
        self.jmps_processed += 1
        if insn.is_exit:
            return self.do_exit(st, pc)
        if insn.is_call:
            return self.check_call(st, insn, pc)
        if insn.is_ja:
            return insn.jump_target(pc)
        if insn.is_cond_jump:
            return self.check_cond_jmp(st, insn, pc)
        self.fail(f"unknown opcode {insn.opcode:02x}")

    def _print_regs(self, st: State, *regs) -> None:
        if self.log_level and self.lines:
            last = self.lines[-1]
            width = ((max(len(last) + 1, 8) + 39) // 40) * 40 - 2
            parts = " ".join(f"R{i}={fmt_reg(st.cur.regs[i])}" for i in regs
                             if st.cur.regs[i].t != NOT_INIT)
            self.lines[-1] = f"{last.ljust(width)}; {parts}"

    # ---------------------------------------------------------------- exit
    def do_exit(self, st: State, pc: int):
        r0 = st.cur.regs[0]
        if st.active_lock and len(st.frames) == 1:
            self.fail("BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region")
        if len(st.frames) > 1:
            # A static subprogram may return nothing (a void function): the
            # kernel copies r0 to the caller as it is, and only a later read
            # of the caller's r0 fails.  Callbacks must return a value.
            if r0.t == NOT_INIT and st.frames[-1].callsite < 0:
                self.fail("R0 !read_ok")
            if r0.t == STACK and r0.frame == len(st.frames) - 1:
                self.fail("cannot return stack pointer to the caller")
            self.live.update(st)
            callee = st.frames.pop()
            caller = st.cur
            if callee.callsite < 0:   # bpf_loop / bpf_for_each_map_elem callback: must return 0 or 1
                self.mark_precise(st, 0)
                if not (r0.umax <= 1):
                    self.fail(f"At callback return the register R0 has smin={r0.smin} smax={r0.smax} "
                              f"should have been in [0, 1]")
                # prepare_func_exit: back to the helper call, which runs
                # again (one more iteration) unless a state there already
                # covers this one; the caller's registers are as they were
                # at the call. Imprecise scalars that changed since the
                # previous visit of the call are widened (as an iterator's).
                site = callee.call_pc()
                prev = iters.find_prev_entry(self, st, site, skip=None)
                if prev is not None:
                    iters.widen(prev, st)
                return site
            for i in range(1, 6):
                caller.regs[i] = Reg()
            caller.regs[0] = callee.regs[0]
            return callee.callsite + 1
        for rid, at in sorted(st.refs.items()):
            self.verbose(f"Unreleased reference id={rid} alloc_insn={at}")
            self.fail("BPF_EXIT instruction in main prog would lead to reference leak")
        rcu.check_leak(self, st, "BPF_EXIT instruction in main prog")
        if r0.t == NOT_INIT:
            self.fail("R0 !read_ok")
        self.check_return_code(r0)
        return None

    def check_return_code(self, r0) -> None:
        # XDP, socket filter and tc programs may return any value; the
        # kernel only range-checks cgroup/LSM/struct_ops-like types and the
        # devmap/cpumap XDP attach types, which dataplane does not load.
        return

    def _check_max_stack_depth(self) -> None:
        """Combined stack of every call chain must fit in 512 bytes (JIT rounding: 16)."""
        calls: dict[int, list] = {i: [] for i in range(len(self.cfg.subprogs))}
        for pc, insn in enumerate(self.prog):
            if insn is not None and insn.opcode == op.OP_CALL and insn.src == BPF_PSEUDO_CALL:
                calls[self.cfg.subprog_of[pc]].append(self.cfg.subprogs.index(pc + 1 + insn.imm))

        _walk_stack(calls, self.stack_depth, self.fail, 0, 0, 1, {0})


def _walk_stack(calls, depths, fail, sp, depth, frames, seen) -> None:
    """Every call chain from ``sp``, depth first (a module function: a
    recursive closure would be a reference cycle holding the verifier)."""
    depth += (depths[sp] + 15) // 16 * 16     # JIT rounding
    if depth > 512:
        fail(f"combined stack size of {frames} calls is {depth}. Too large")
    for callee in calls[sp]:
        if callee in seen:
            continue
        _walk_stack(calls, depths, fail, callee, depth, frames + 1, seen | {callee})


def verify(insns, *, prog_type: str = "xdp", maps=None, license: str = "GPL", kfuncs=None,
           log_level: int = 1, allow_uninit_stack: bool = True, objs=None,
           divmod_ranges: bool = False, line_info=None, deadline: float | None = None,
           cancel=None, max_states: int | None = None, bounds=None, kernel=None) -> VerifiedProgram:
    """Prove ``insns`` safe or raise VerifierError(summary, log).

    ``kfuncs``: btf id -> KfuncProto (or a callable doing that lookup);
    ``objs``: BTF struct name -> ObjLayout for objects kfuncs return;
    ``divmod_ranges``: track unsigned div/mod by constants (e.g. ``x % k`` is
    in [0, k-1]); off by default because the 6.18 kernel forgets such
    results, and dataplane's verdicts follow the kernel's.
    ``line_info``: the program's BTF line info (loader LineInfo records):
    the log shows the source line of the instructions, as the kernel's.

    Bounds for callers that must not wait (the service): ``deadline`` in
    seconds of wall time, ``cancel`` (a threading.Event, or any callable
    returning True) checked as the exploration goes, ``max_states`` the
    checkpoints kept at once (the kernel's peak_states).  Past one of them
    verification stops with :class:`VerifierAborted` ("verification
    cancelled", "verification exceeded N s", "verification exceeded N
    states"; kind ECANCELED, ETIMEDOUT, ENOMEM).  ``bounds`` gives them in
    one value (see :func:`from_bounds`), as Collection.load passes them on.
    ``kernel``: an abi.kernel.Behaviour, where the kernel to follow differs
    from the modelled release (dataplane.loader.kernel_probe asks the
    running one); None: the modelled release."""
    if bounds is not None:
        deadline, cancel, max_states = from_bounds(bounds, deadline, cancel, max_states)
    with gc_paused():     # until the verifier (all its states) is freed too
        return Verifier(insns, prog_type, maps, license, kfuncs, log_level, allow_uninit_stack, objs,
                        divmod_ranges, line_info, deadline, cancel, max_states, kernel).run()


def from_bounds(bounds, deadline=None, cancel=None, max_states=None):
    """(deadline s, cancel, max_states) from a caller's bounds: a mapping
    with any of those keys, or a cancellation object (a threading.Event, a
    callable, or the service's load job) whose ``deadline`` attribute, if
    any, is a time.monotonic() value and whose ``max_states`` caps states.
    Explicit arguments win."""
    import time
    if isinstance(bounds, dict):
        get = bounds.get
        return (deadline if deadline is not None else get("deadline"),
                cancel if cancel is not None else get("cancel"),
                max_states if max_states is not None else get("max_states"))
    at = getattr(bounds, "deadline", None)
    if deadline is None and at is not None:
        deadline = round(max(0.0, at - time.monotonic()), 3)
    if max_states is None:
        max_states = getattr(bounds, "max_states", None)
    return deadline, cancel if cancel is not None else bounds, max_states
