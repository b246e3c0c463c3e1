"""Decoded BPF program -> C source.

Input is the decoder's view of a program (``engine.decode``): one
``(op, dst, src, off, imm)`` tuple per instruction slot, where ``op`` names
one behaviour of dp_prog.h ("add64_k", "ldx_ld16", "fetch_add32", ...),
jump and local-call targets are absolute indexes in ``off`` and immediates are
already sign-extended. Reusing the interpreter's decoder means the JIT accepts
and rejects exactly the programs the interpreter does.

Shape of the output:

* one static C function per BPF function (the entry and every target of a
  local call); a function's body is the code reachable from its entry without
  entering callees, so even unverified programs that jump between functions
  behave as in the interpreter (the shared code is emitted in each);
* registers are locals ``r0``..``r10``; jumps are gotos, labels only where
  something jumps or falls through out of order;
* every operation expands a ``dp_*`` inline of bpf_semantics.h;
* checked mode: a call passes the caller's r0-r9 in an array and gets r0-r5
  back, so a callee sees and leaves registers exactly as the interpreter's
  shared register file does; unchecked (verified) code passes r1-r5 by
  value and returns r0, as the verifier's calling convention lets it (a
  callee cannot read r0/r6-r9 before writing them, a caller cannot read
  r1-r5 after a call), so the C compiler keeps them in registers;
* checked (unverified) code keeps the instruction budget of
  runtime/csrc/dp_budget.h: ``bu += n`` at the start of each basic block
  (blocks end at jumps, calls and labels), compared with the limit at
  backward jumps and calls only, exactly where the interpreter compares
  its per-instruction count -- both engines stop a run at the same
  instruction; unchecked code has none of it;
* unchecked code calls the helpers listed in _INLINE_HELPERS directly
  (csrc/dp_jit_helpers.h) and does bpf_tail_call inline.

Cross-program control flow (see csrc/dp_jit_link.h): a helper stopping
with DP_STOP_TAIL hands the registers to dp_jit_tail_hook, which runs the
target's exported ``<entry>_regs`` in the same frame (unchecked code reads
the target's entry from its dp_prog itself); ``<entry>_sub`` is the
env->call_sub dispatcher over every function and callback entry (lddw
immediates carrying the linker's callback tag). Plain loads in checked mode
that miss all memory but hit env's ctx go through env->ctx_load.

Checked mode bounds-checks every access like the interpreter and keeps the
frames on the env's stack (same addresses, so callees can use a caller's
stack through a pointer and error messages match). Unchecked mode gives each
function a local 512-byte array and accesses memory directly: only for
programs a verifier has accepted.
"""
from __future__ import annotations

from dataplane.abi.helpers import HELPER_IDS

# Bump when the generated code changes meaning: it is part of the cache key.
CODEGEN_VERSION = 10

_ALU = ("add", "sub", "mul", "div", "sdiv", "or", "and", "lsh", "rsh", "mod", "smod", "xor", "mov", "arsh")
_JMP = ("jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle")
_UN_DST = ("neg64", "neg32", "le16", "le32", "le64", "be16", "be32", "be64", "bswap16", "bswap32", "bswap64")
_UN_SRC = ("movsx64_8", "movsx64_16", "movsx64_32", "movsx32_8", "movsx32_16")
_LOAD_SIZE = {"ld8": 1, "ld16": 2, "ld32": 4, "ld64": 8, "ldsx8": 1, "ldsx16": 2, "ldsx32": 4}
_STORE_SIZE = {"st8": 1, "st16": 2, "st32": 4, "st64": 8}
_NO_FALLTHROUGH = ("ja", "exit")

_CALL_OPS = ("call_helper", "callx", "call_kfunc", "call_local")

_BIN_OPS = {f"{n}{w}_{k}" for n in _ALU for w in ("64", "32") for k in ("k", "x")}
_JMP_OPS = {f"{n}{w}_{k}" for n in _JMP for w in ("64", "32") for k in ("k", "x")}


# Helpers verified (unchecked) code calls inline instead of through the
# helper table (csrc/dp_jit_helpers.h: same definitions as the table's
# helpers in trusted mode; none of them stops the program).
_INLINE_HELPERS = {
    2: "dp_jit_h_map_update(r1, r2, r3, r4)",
    3: "dp_jit_h_map_delete(r1, r2)",
    5: "dp_clock_ns(CLOCK_MONOTONIC)",
    8: "dp_rt_cpu(env)",
    28: "dp_jit_h_csum_diff(r1, r2, r3, r4, r5)",
    44: "dp_jit_h_xdp_adjust_head(env, r1, r2)",
    54: "dp_jit_h_xdp_adjust_meta(env, r1, r2)",
    87: "dp_jit_h_map_push(r1, r2, r3)",
    88: "dp_jit_h_map_pop(r1, r2)",
    89: "dp_jit_h_map_peek(r1, r2)",
    125: "dp_clock_ns(CLOCK_BOOTTIME)",
    160: "dp_clock_ns(CLOCK_MONOTONIC_COARSE)",
    195: "dp_jit_h_map_lookup_percpu(r1, r2, r3)",
    208: "dp_clock_ns(CLOCK_TAI)",
}
HELPER_TAIL_CALL = 12


def _k(imm: int) -> str:
    return f"0x{imm & 0xFFFFFFFFFFFFFFFF:x}ULL"


def _targets(i: int, insn: tuple) -> tuple[list[int], int | None]:
    """(jump targets, fall-through successor or None) of instruction i."""
    op, _dst, _src, off, _imm = insn
    if op == "exit":
        return [], None
    if op == "ja":
        return [off], None
    if op == "lddw":
        return [], i + 2
    if op in _JMP_OPS:
        return [off], i + 1
    return [], i + 1


def _reachable(insns: list[tuple], entry: int) -> list[int]:
    seen = set()
    work = [entry]
    while work:
        i = work.pop()
        if i in seen or i >= len(insns):
            continue
        seen.add(i)
        jumps, nxt = _targets(i, insns[i])
        work.extend(jumps)
        if nxt is not None:
            work.append(nxt)
    return sorted(seen)


# lddw imm64 of a callback (bpf_loop's callback_fn): the linker's
# DP_CALLBACK_TAG | insn index (dp_helpers.h).
CALLBACK_TAG = 0xCB0F000000000000
CALLBACK_MASK = 0xFFFFFFFF00000000


def callbacks(insns: list[tuple]) -> list[int]:
    """Insn indexes some lddw names as a callback (env->call_sub targets)."""
    out = set()
    for op, _dst, _src, _off, imm in insns:
        if op == "lddw" and (imm & CALLBACK_MASK) == CALLBACK_TAG:
            i = imm & 0xFFFFFFFF
            if i < len(insns) and insns[i][0] != "invalid":
                out.add(i)
    return sorted(out)


def functions(insns: list[tuple]) -> dict[int, list[int]]:
    """Entry index -> reachable instruction indexes, for the entry, every
    callback and every local-call target reachable from them."""
    funcs: dict[int, list[int]] = {}
    work = [0] + callbacks(insns)
    while work:
        entry = work.pop()
        if entry in funcs:
            continue
        body = _reachable(insns, entry)
        funcs[entry] = body
        work.extend(insns[i][3] for i in body if insns[i][0] == "call_local")
    return funcs


class Facts:
    """What the loader and the verifier know about a program beyond its bytes.

    ``relocs``: lddw slots whose immediate is a run-time address (a map, a
    map value): the code reads it from the running program's decoded
    instructions (env->cur_prog) instead of baking it in, so the same .so
    serves every process and collection (the cache key masks those
    immediates). ``ctx``: for verified programs, slot -> "ctx" (the
    verifier proved the access goes through the unmodified ctx pointer and
    nothing else) or "mixed" (ctx on some paths, other memory on others);
    ``ctx_type`` is "xdp" or "socket" (which struct r1 points to).
    ``stack``: function entry -> bytes of its frame the verifier saw used
    (stack_depth): an unchecked frame zeroes only those (a privileged
    program may read stack it never wrote, as root can in the kernel, and
    must see the interpreter's zeroes, not the native stack's leftovers of
    other programs and packets); entries not listed zero the whole frame."""

    def __init__(self, relocs=(), ctx=None, ctx_type: str | None = None, stack=None):
        self.relocs = frozenset(relocs)
        self.ctx = dict(ctx or {})
        self.ctx_type = ctx_type
        self.stack = dict(stack or {})

    def digest(self) -> bytes:
        """Bytes that decide the generated code besides the program (cache key)."""
        return repr((sorted(self.relocs), sorted(self.ctx.items()), self.ctx_type,
                     sorted(self.stack.items()))).encode()


NO_FACTS = Facts()

# struct xdp_md offset -> struct dp_xdp_buff member (xdp_convert_ctx_access)
_XDP_FIELDS = {0: "(uint64_t)(uintptr_t)X->data", 4: "(uint64_t)(uintptr_t)X->data_end",
               8: "(uint64_t)(uintptr_t)X->data_meta", 12: "(uint64_t)X->ingress_ifindex",
               16: "(uint64_t)X->rx_queue_index"}
# struct __sk_buff u32 word -> struct dp_skb member; other words below 72 read 0 (dp_skb_ctx_load)
_SKB_FIELDS = {0: "S->len", 4: "S->pkt_type", 16: "S->protocol", 36: "S->ingress_ifindex", 40: "S->ifindex"}
# __sk_buff cb[0..4]: real storage at the same offset of struct dp_skb (the
# program may write it), so verified accesses are plain memory accesses
_SKB_CB = (48, 68)


def _ctx_expr(ctx_type: str | None, base: str, off: int, size: int) -> str | None:
    """C expression of a verified ctx load, or None for the generic path."""
    if ctx_type == "xdp" and size == 4 and off in _XDP_FIELDS:
        return _XDP_FIELDS[off].replace("X", f"((const struct dp_xdp_buff *)(uintptr_t){base})")
    if ctx_type == "socket" and _SKB_CB[0] <= off and off + size <= _SKB_CB[1]:
        return f"(uint64_t)dp_ld{size * 8}((const void *)(uintptr_t)({base} + {off}))"
    if ctx_type == "socket" and 0 <= off < 72 and size in (1, 2, 4) and off % size == 0:
        word = _SKB_FIELDS.get(off & ~3)
        if word is None:
            return "0"
        v = word.replace("S", f"((const struct dp_skb *)(uintptr_t){base})")
        mask = 0xFFFFFFFF if size == 4 else (1 << (size * 8)) - 1
        return f"(((uint64_t)(uint32_t){v} >> {(off & 3) * 8}) & 0x{mask:x}ULL)"
    return None


def _signature(prefix: str, e: int, checked: bool) -> str:
    if checked:
        return f"static uint64_t {prefix}f{e}(struct dp_env *env, uint64_t *regs, int depth)"
    return (f"static uint64_t {prefix}f{e}(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, "
            f"uint64_t r4, uint64_t r5, int depth)")


class _Func:
    def __init__(self, insns: list[tuple], entry: int, body: list[int], checked: bool, prefix: str,
                 facts: Facts = NO_FACTS):
        self.prefix = prefix
        self.insns = insns
        self.entry = entry
        self.body = body
        self.checked = checked
        self.facts = facts
        self.lines: list[str] = []

    def access(self, i: int, ptr_expr: str, size: int, need: str, lenvar: str) -> str:
        if not self.checked:
            return f"p = (void *)(uintptr_t)({ptr_expr});"
        return f"DP_JIT_ACCESS(p, {ptr_expr}, {size}, {need}, {lenvar}, {i});"

    def emit(self) -> list[str]:
        insns, body = self.insns, self.body
        labels: set[int] = set()
        gotos: dict[int, int] = {}  # insn -> fall-through target that needs an explicit goto
        for pos, i in enumerate(body):
            jumps, nxt = _targets(i, insns[i])
            labels.update(jumps)
            if nxt is not None and (pos + 1 == len(body) or body[pos + 1] != nxt):
                gotos[i] = nxt
                labels.add(nxt)
        if self.entry != body[0]:
            labels.add(self.entry)
        out = self.lines
        e = self.entry
        out.append(_signature(self.prefix, e, self.checked))
        out.append("{")
        if self.checked:
            out.append("    uint64_t r0 = regs[0], r1 = regs[1], r2 = regs[2], r3 = regs[3], r4 = regs[4];")
            out.append("    uint64_t r5 = regs[5], r6 = regs[6], r7 = regs[7], r8 = regs[8], r9 = regs[9], r10;")
            out.append("    uint64_t cregs[10];")
            out.append("    (void)cregs;")
        else:
            # arguments by value: the verifier let no function read r0 or
            # r6-r9 before writing them, nor a caller read r1-r5 after a call
            out.append("    uint64_t r0 = 0, r6 = 0, r7 = 0, r8 = 0, r9 = 0, r10;")
        if self.checked:    # instructions run so far in this run (dp_budget.h)
            out.append("    uint64_t bu = env->run_insns;")
        out.append("    void *p;")
        out.append("    uint32_t poff;")
        out.append("    (void)p; (void)poff;")
        if any(i in self.facts.relocs for i in body):
            out.append("    const struct dp_xinsn *const xi = env->cur_prog->insns;")
        if self.checked:
            # Frames live on the env's stack as in the interpreter: frame d
            # spans [top - (d+1)*512, top - d*512).
            out.append("    const uint64_t stop = env->stack_top;")
            out.append("    const uint64_t slo = stop - (uint64_t)(depth + 1) * DP_STACK_SIZE;")
            out.append("    uint64_t mlo = env->mem_lo, mlen = env->mem_len, mwlen = env->mem_wlen;")
            out.append("    (void)mlo; (void)mlen; (void)mwlen;")
            out.append("    r10 = slo + DP_STACK_SIZE;")
            out.append("    env->stack_lo = slo;")
        else:
            out.append("    uint64_t stk[DP_STACK_SIZE / 8] __attribute__((aligned(8)));")
            out.append("    r10 = (uint64_t)(uintptr_t)&stk[DP_STACK_SIZE / 8];")
            used = min(512, (self.facts.stack.get(e, 512) + 7) // 8 * 8)
            if used:   # the interpreter's zeroed frame, as far as the program can see it
                # one store per slot, not memset: gcc turns a small memset into
                # `rep stosq`, whose start-up (~30 cycles on this EPYC) took 60% of the
                # samples in a 10-rule iptables filter's code; separate stores
                # become 16-byte SSE stores (SLP), a few cycles
                out.append("    " + " ".join(f"stk[DP_STACK_SIZE / 8 - {k}] = 0;" for k in range(1, used // 8 + 1)))
        if self.entry != body[0]:
            out.append(f"    goto L{e};")
        charges = self._blocks(labels) if self.checked else {}
        for i in body:
            if i in labels:
                out.append(f"L{i}:")
            if i in charges:
                out.append(f"    bu += {charges[i]};")
            self.insn(i)
            if i in gotos:
                out.append(f"    goto L{gotos[i]};")
        out.append("fail:")
        out.append("    return 0;")
        out.append("}")
        return out

    def _blocks(self, labels: set[int]) -> dict[int, int]:
        """Basic block start -> its instruction count, in emission order: a
        block starts at the body's first insn, at a label, and after a call
        or a conditional jump; the budget charges it on entry."""
        out: dict[int, int] = {}
        start = prev = None
        for i in self.body:
            if prev is None or i in labels or self.insns[prev][0] in _CALL_OPS or self.insns[prev][0] in _JMP_OPS:
                start = i
                out[i] = 0
            out[start] += 1
            prev = i
        return out

    def back(self, i: int, target: int) -> str:
        """The budget checkpoint of a jump from i to target (checked code, backward only)."""
        return f"DP_JIT_CHECKPOINT({i}); " if self.checked and target <= i else ""

    def insn(self, i: int, plain: bool = False) -> None:
        """Emit instruction i; `plain`: ignore ctx facts (the direct access)."""
        op, dst, src, off, imm = self.insns[i]
        ctx = {} if plain else self.facts.ctx
        out = self.lines
        d, s, k = f"r{dst}", f"r{src}", _k(imm)
        checked = self.checked

        def w(line: str) -> None:
            out.append("    " + line)

        if op in _BIN_OPS:
            base, form = op[:-2], op[-1]
            w(f"{d} = dp_{base}({d}, {k if form == 'k' else s});")
        elif op in _JMP_OPS:
            base, form = op[:-2], op[-1]
            w(f"if (dp_{base}({d}, {k if form == 'k' else s})) {{ {self.back(i, off)}goto L{off}; }}")
        elif op in _UN_DST:
            w(f"{d} = dp_{op}({d});")
        elif op in _UN_SRC:
            w(f"{d} = dp_{op}({s});")
        elif op == "lddw" and i in self.facts.relocs:
            w(f"{d} = (uint64_t)xi[{i}].imm;")
        elif op == "lddw":
            w(f"{d} = {k};")
        elif not checked and op.startswith("ldx_ld") and not op.startswith("ldx_ldsx") and ctx.get(i) == "ctx":
            size = _LOAD_SIZE[op[4:]]
            expr = _ctx_expr(self.facts.ctx_type, s, off, size)
            if expr is not None:
                w(f"{d} = {expr};")
            else:
                w(f"{{ uint64_t v_; if (dp_jit_ctx_load(env, {s} + {_k(off)}, {size}, &v_, {i}) != 0) goto fail; "
                  f"{d} = v_; }}")
        elif not checked and i in ctx and (op.startswith("ldx_") or op.startswith("st")
                                                     or op.startswith("atomic_") or op.startswith("fetch_")
                                                     or op.startswith("xchg") or op.startswith("cmpxchg")):
            # ctx on some paths only: decide at run time, as checked mode does
            addr = f"{s if op.startswith('ldx_') else d} + {_k(off)}"
            acc = op.split("_", 1)[1] if "_" in op else op
            size = _LOAD_SIZE.get(acc) or _STORE_SIZE.get(acc) or (4 if acc.endswith("32") else 8)
            plain_load = op.startswith("ldx_ld") and not op.startswith("ldx_ldsx")
            w(f"if (DP_UNLIKELY(({addr}) - env->ctx_lo < env->ctx_len)) {{")
            if plain_load:
                w(f"    uint64_t v_; if (dp_jit_ctx_load(env, {addr}, {size}, &v_, {i}) != 0) goto fail;")
                w(f"    {d} = v_;")
                w("} else {")
                w(f"    {d} = dp_{acc}((const void *)(uintptr_t)({addr}));")
                w("}")
            else:
                # the ctx's writable window (__sk_buff cb[]) is plain memory
                win = f"({addr}) - env->ctx_wlo"
                w(f"    if (!({win} < env->ctx_wlen && {size} <= env->ctx_wlen - ({win}))) {{")
                w(f"        dp_jit_ctx_bad(env, {addr}, {size}, {i}); goto fail;")
                w("    }")
                w("}")
                self.insn(i, plain=True)
        elif op == "ja":
            w(f"{self.back(i, off)}goto L{off};")
        elif op.startswith("ldx_") and checked and not op.startswith("ldx_ldsx"):
            # plain loads may hit the ctx (xdp_md ...): env->ctx_load
            acc = op[4:]
            w(f"DP_JIT_LOAD({d}, {acc}, {s} + {_k(off)}, {_LOAD_SIZE[acc]}, {i});")
        elif op.startswith("ldx_"):
            acc = op[4:]
            w(self.access(i, f"{s} + {_k(off)}", _LOAD_SIZE[acc], "DP_REGION_READ", "mlen"))
            w(f"{d} = dp_{acc}(p);")
        elif op.startswith("st_") or op.startswith("stx_"):
            acc = op.split("_", 1)[1]
            w(self.access(i, f"{d} + {_k(off)}", _STORE_SIZE[acc], "DP_REGION_WRITE", "mwlen"))
            w(f"dp_{acc}(p, {k if op.startswith('st_') else s});")
        elif op.startswith("atomic_") or op.startswith("fetch_"):
            kind = op.split("_", 1)[1]
            size = 8 if kind.endswith("64") else 4
            w(self.access(i, f"{d} + {_k(off)}", size, "DP_REGION_RW", "mwlen"))
            if op.startswith("fetch_") and not kind.startswith("add"):
                w(f"{s} = dp_jit_fetch_{kind}(p, {s});")  # see dp_jit_rt.h: GCC 12 bug
            else:
                w(f"{s + ' = ' if op.startswith('fetch_') else '(void)'}dp_atomic_{kind}(p, {s});")
        elif op in ("xchg32", "xchg64"):
            w(self.access(i, f"{d} + {_k(off)}", 4 if op == "xchg32" else 8, "DP_REGION_RW", "mwlen"))
            w(f"{s} = dp_atomic_{op}(p, {s});")
        elif op in ("cmpxchg32", "cmpxchg64"):
            w(self.access(i, f"{d} + {_k(off)}", 4 if op == "cmpxchg32" else 8, "DP_REGION_RW", "mwlen"))
            w(f"r0 = dp_atomic_{op}(p, r0, {s});")
        elif op.startswith("ldabs") or op.startswith("ldind"):
            size = int(op[5:])
            if op.startswith("ldabs"):
                w(f"poff = (uint32_t){k};")
            else:
                w(f"poff = (uint32_t){k} + (uint32_t){s};")
            # Outside the packet the whole program ends with r0 = 0, as the
            # kernel's LD_ABS does; callers see env->stop and unwind.
            w(f"if (!dp_pkt_in(poff, {size}, env->pkt_len)) {{ env->stop = DP_STOP_EXIT; return 0; }}")
            w(f"r0 = dp_pkt_load{size}(env->pkt + poff);")
        elif not checked and op == "call_helper" and imm == HELPER_IDS["bpf_map_lookup_elem"]:
            # bpf_map_lookup_elem of a verified program: R1 is a map, R2 a
            # key of key_size bytes (maps.h inlines plain arrays).
            w("r0 = (uint64_t)(uintptr_t)dp_map_lookup_elem((struct dp_map *)(uintptr_t)r1, "
              "(const void *)(uintptr_t)r2);")
        elif not checked and op == "call_helper" and imm in _INLINE_HELPERS:
            w(f"r0 = {_INLINE_HELPERS[imm]};")
        elif not checked and op == "call_helper" and imm == HELPER_TAIL_CALL:
            # bpf_tail_call inline: the target's unchecked code continues in
            # this frame with these registers (its exit is this function's);
            # an empty slot or a spent budget falls through with r0 = 0
            w("{")
            w("    const struct dp_prog *t_ = dp_jit_tail_target(env, r2, r3);")
            w("    if (t_) {")
            w("        uint64_t tr_[10] = {r0, r1, r2, r3, r4, r5, r6, r7, r8, r9};")
            w(f"        return dp_jit_tail_go(env, t_, tr_, depth, {i});")
            w("    }")
            w("    r0 = 0;")
            w("}")
        elif op in ("call_helper", "callx", "call_kfunc"):
            kind = "kfunc" if op == "call_kfunc" else "helper"
            table, count = ("env->kfuncs", "env->nkfuncs") if kind == "kfunc" else ("env->helpers", "env->nhelpers")
            hid = _k(imm & 0xFFFFFFFF) if op != "callx" else d
            w("{")
            if checked:
                w(f"    DP_JIT_CHECKPOINT({i});")
            w(f"    uint64_t hid = {hid};")
            # verified helper calls: the loader resolved every id against the
            # collection's own table; kfunc tables belong to their registry
            # (entries can be removed), so those keep the two-compare check
            if checked or op != "call_helper":
                w(f"    if (DP_UNLIKELY(hid >= {count} || {table}[hid] == NULL)) "
                  f"{{ dp_jit_fail_unknown(env, \"{kind}\", hid, {i}); goto fail; }}")
            w(f"    env->cur_pc = {i};")
            if checked:      # callbacks the helper runs count on from here
                w("    env->run_insns = bu;")
            w(f"    r0 = {table}[hid](env, r1, r2, r3, r4, r5);")
            if checked:
                w("    bu = env->run_insns;")
            w("    if (DP_UNLIKELY(env->stop != DP_STOP_NONE)) {")
            if kind == "helper":
                # bpf_tail_call: the target continues in this frame with
                # these registers; its exit is this function's exit.
                w("        if (env->stop == DP_STOP_TAIL) {")
                if checked:
                    w("            regs[0] = r0; regs[1] = r1; regs[2] = r2; regs[3] = r3; regs[4] = r4;")
                    w("            regs[5] = r5; regs[6] = r6; regs[7] = r7; regs[8] = r8; regs[9] = r9;")
                    w(f"            return dp_jit_tail(env, regs, depth, {i});")
                else:
                    w("            uint64_t tr_[10] = {r0, r1, r2, r3, r4, r5, r6, r7, r8, r9};")
                    w(f"            return dp_jit_tail(env, tr_, depth, {i});")
                w("        }")
            w(f"        dp_jit_stopped(env, \"{kind}\", hid, {i});")
            w("        return r0;")
            w("    }")
            if checked:
                w("    DP_JIT_RELOAD();")
            w("}")
        elif op == "call_local":
            if checked:
                w(f"DP_JIT_CHECKPOINT({i});")
            w(f"if (DP_UNLIKELY(depth + 1 >= DP_MAX_CALL_FRAMES)) {{ dp_jit_fail_depth(env, {i}); goto fail; }}")
            if not checked:
                w(f"r0 = {self.prefix}f{off}(env, r1, r2, r3, r4, r5, depth + 1);")
                w("if (DP_UNLIKELY(env->stop != DP_STOP_NONE)) return r0;")
                return
            # the callee's fresh frame, zeroed as in the interpreter
            w("memset((void *)(uintptr_t)(slo - DP_STACK_SIZE), 0, DP_STACK_SIZE);")
            w("cregs[0] = r0; cregs[1] = r1; cregs[2] = r2; cregs[3] = r3; cregs[4] = r4;")
            w("cregs[5] = r5; cregs[6] = r6; cregs[7] = r7; cregs[8] = r8; cregs[9] = r9;")
            w("env->run_insns = bu;")
            w(f"r0 = {self.prefix}f{off}(env, cregs, depth + 1);")
            w("bu = env->run_insns;")
            w("if (DP_UNLIKELY(env->stop != DP_STOP_NONE)) return r0;")
            w("r1 = cregs[1]; r2 = cregs[2]; r3 = cregs[3]; r4 = cregs[4]; r5 = cregs[5];")
            w("env->stack_lo = slo;")
            w("DP_JIT_RELOAD();")
        elif op == "exit":
            if checked:   # the interpreter's shared register file, as the caller sees it
                w("env->run_insns = bu;")
                w("regs[0] = r0; regs[1] = r1; regs[2] = r2; regs[3] = r3; regs[4] = r4; regs[5] = r5;")
            w("return r0;")
        else:  # "invalid" is unreachable: the decoder rejects jumps into lddw
            raise ValueError(f"codegen: unsupported op {op!r} at insn {i}")


def generate(insns: list[tuple], checked: bool = True, *, entry: str = "dp_jit_main", prefix: str = "dp_",
             header: bool = True, facts: Facts = NO_FACTS) -> str:
    """C source defining ``uint64_t <entry>(struct dp_env *, uint64_t r1, uint64_t r2)``,
    ``uint64_t <entry>_regs(struct dp_env *, uint64_t *regs, int depth)`` (the
    entry with a full register file at a frame depth: tail-call targets) and
    ``uint64_t <entry>_sub(struct dp_env *, uint32_t start, uint64_t *regs,
    int depth)`` (env->call_sub re-entry at a function or callback entry;
    regs[0..9] in, regs[0..5] out).

    `prefix` names the static functions and `header=False` leaves out the
    #include, so several programs can share one translation unit (the
    compiler's bundles: one cc process per program costs ~60 ms of process
    start-up whatever the program's size)."""
    funcs = functions(insns)
    out = [
        f"/* generated by dataplane.runtime.jit.codegen v{CODEGEN_VERSION}: "
        f"{len(insns)} insns, {len(funcs)} functions, {'checked' if checked else 'unchecked'} */",
    ]
    if header:
        out += ['#include "dp_jit_rt.h"', ""]
    for e in sorted(funcs):
        out.append(_signature(prefix, e, checked) + ";")
    out.append("")
    for e in sorted(funcs):
        out.extend(_Func(insns, e, funcs[e], checked, prefix, facts).emit())
        out.append("")
    # unchecked functions take r1-r5 by value; a register file regs[] is
    # read only as far as verified code can see it
    args = "regs, depth" if checked else "regs[1], regs[2], regs[3], regs[4], regs[5], depth"
    out.append("__attribute__((visibility(\"default\")))")
    out.append(f"uint64_t {entry}(struct dp_env *env, uint64_t r1, uint64_t r2)")
    out.append("{")
    if checked:
        out.append("    uint64_t regs[10] = {0, r1, r2, 0, 0, 0, 0, 0, 0, 0};")
        out.append(f"    return {prefix}f0(env, regs, 0);")
    else:
        out.append(f"    return {prefix}f0(env, r1, r2, 0, 0, 0, 0);")
    out.append("}")
    out.append("")
    out.append("__attribute__((visibility(\"default\")))")
    out.append(f"uint64_t {entry}_regs(struct dp_env *env, uint64_t *regs, int depth)")
    out.append("{")
    out.append(f"    return {prefix}f0(env, {args});")
    out.append("}")
    out.append("")
    out.append("__attribute__((visibility(\"default\")))")
    out.append(f"uint64_t {entry}_sub(struct dp_env *env, uint32_t start, uint64_t *regs, int depth)")
    out.append("{")
    out.append("    switch (start) {")
    for e in sorted(funcs):
        out.append(f"    case {e}: return {prefix}f{e}(env, {args});")
    out.append("    }")
    out.append("    snprintf(env->errmsg, sizeof(env->errmsg), start < %du ? "
               "\"callback at insn %%u is not a function entry the JIT compiled\" : "
               "\"callback at insn %%u is outside the program\", start);" % len(insns))
    out.append("    env->stop = DP_STOP_ERROR;")
    out.append("    return 0;")
    out.append("}")
    return "\n".join(out) + "\n"
