/*
 * A program decoded once for execution: the raw RFC 9669 words are checked
 * and rewritten into fixed-size "x-instructions" whose `op` names exactly one
 * behaviour (sdiv vs div, movsx width, bswap width, atomic kind and fetch
 * flag, call kind are all resolved here), so the dispatch loop does no
 * decoding at run time. Jump and local-call targets become absolute indexes;
 * immediates are pre-sign-extended to 64 bits (lddw: the full 64-bit value).
 *
 * Instruction numbering stays that of the original program (an lddw keeps
 * its two slots), so error messages name the same index as a disassembler or
 * the kernel's verifier log.
 */
#ifndef DP_PROG_H
#define DP_PROG_H

#include <stddef.h>
#include <stdint.h>

/* Operation lists as X-macros: the enum below, the loop's label table and
 * its handlers are all generated from them, so they cannot drift apart. */

/* binary ALU ops with K and X forms, 64- and 32-bit: dp_<name>64 / dp_<name>32 */
#define DP_ALU_BINOPS(X) X(add) X(sub) X(mul) X(div) X(sdiv) X(or) X(and) \
    X(lsh) X(rsh) X(mod) X(smod) X(xor) X(mov) X(arsh)
/* unary ops on dst: dst = dp_<name>(dst) */
#define DP_UNOPS_DST(X) X(neg64) X(neg32) X(le16) X(le32) X(le64) X(be16) X(be32) X(be64) \
    X(bswap16) X(bswap32) X(bswap64)
/* sign-extending moves: dst = dp_<name>(src) */
#define DP_UNOPS_SRC(X) X(movsx64_8) X(movsx64_16) X(movsx64_32) X(movsx32_8) X(movsx32_16)
/* conditional jumps, K and X forms, 64- and 32-bit: dp_<name>64 / dp_<name>32 */
#define DP_JMP_CONDS(X) X(jeq) X(jne) X(jgt) X(jge) X(jlt) X(jle) X(jset) \
    X(jsgt) X(jsge) X(jslt) X(jsle)
/* loads: (accessor, bytes) */
#define DP_LOADS(X) X(ld8, 1) X(ld16, 2) X(ld32, 4) X(ld64, 8) X(ldsx8, 1) X(ldsx16, 2) X(ldsx32, 4)
/* stores: (accessor, bytes) */
#define DP_STORES(X) X(st8, 1) X(st16, 2) X(st32, 4) X(st64, 8)
/* atomic read-modify-write ops with and without FETCH: (name, bytes) */
#define DP_ATOMIC_RMW(X) X(add32, 4) X(or32, 4) X(and32, 4) X(xor32, 4) \
    X(add64, 8) X(or64, 8) X(and64, 8) X(xor64, 8)
/* legacy packet loads: (bytes) */
#define DP_PKT_SIZES(X) X(1) X(2) X(4)

enum dp_xop {
    DP_X_invalid = 0,          /* the second slot of an lddw; never executed */
#define DP_E_ALU(n) DP_X_##n##64_k, DP_X_##n##64_x, DP_X_##n##32_k, DP_X_##n##32_x,
    DP_ALU_BINOPS(DP_E_ALU)
#undef DP_E_ALU
#define DP_E_UN(n) DP_X_##n,
    DP_UNOPS_DST(DP_E_UN)
    DP_UNOPS_SRC(DP_E_UN)
#undef DP_E_UN
#define DP_E_JMP(n) DP_X_##n##64_k, DP_X_##n##64_x, DP_X_##n##32_k, DP_X_##n##32_x,
    DP_JMP_CONDS(DP_E_JMP)
#undef DP_E_JMP
#define DP_E_MEM(n, sz) DP_X_ldx_##n,
    DP_LOADS(DP_E_MEM)
#undef DP_E_MEM
#define DP_E_MEM(n, sz) DP_X_st_##n, DP_X_stx_##n,
    DP_STORES(DP_E_MEM)
#undef DP_E_MEM
#define DP_E_AT(n, sz) DP_X_atomic_##n, DP_X_fetch_##n,
    DP_ATOMIC_RMW(DP_E_AT)
#undef DP_E_AT
    DP_X_xchg32, DP_X_xchg64, DP_X_cmpxchg32, DP_X_cmpxchg64,
#define DP_E_PKT(sz) DP_X_ldabs##sz, DP_X_ldind##sz,
    DP_PKT_SIZES(DP_E_PKT)
#undef DP_E_PKT
    DP_X_lddw,        /* imm = the 64-bit value; skips its second slot */
    DP_X_ja,          /* also gotol (JMP32|JA, target from imm) */
    DP_X_call_helper, /* imm = helper id */
    DP_X_callx,       /* helper id in dst (uBPF/conformance "call %rN") */
    DP_X_call_local,  /* off = target index */
    DP_X_call_kfunc,  /* imm = kfunc table index */
    DP_X_exit,
    DP_X__count
};

/* 16 bytes: one cache line holds four. */
struct dp_xinsn {
    uint8_t op;      /* enum dp_xop */
    uint8_t dst;
    uint8_t src;
    uint8_t code;    /* original opcode byte, for messages */
    int32_t off;     /* memory offset, or absolute jump/call target index */
    int64_t imm;     /* sign-extended immediate; lddw: the full value */
};

struct dp_prog {
    struct dp_xinsn *insns;
    uint32_t len;    /* in instruction slots (8-byte words) */
    /* Native code of this program, [0] unchecked / [1] checked mode: the
     * JIT's <entry>_regs and <entry>_sub (dp_jit_link.h). A tail call finds
     * its target's code here -- a PROG_ARRAY slot holds this struct's
     * address -- so worker threads never search a shared table that the
     * control plane may be growing. Written with atomic stores under the
     * GIL, read with atomic loads without it; NULL when not compiled. */
    void *jit_entry[2];
    void *jit_sub[2];
};

/* Decode and validate `nbytes` of raw bytecode. On success returns 0 and
 * fills *prog (free with dp_prog_free). On failure returns -1, writes a
 * message to err and the offending instruction index to *err_index (-1 when
 * the problem is the program as a whole, e.g. its length). */
int dp_prog_load(struct dp_prog *prog, const uint8_t *code, size_t nbytes,
                 char *err, size_t errlen, int32_t *err_index);
void dp_prog_free(struct dp_prog *prog);

#endif /* DP_PROG_H */
