/*
 * Names of the decoder's x-ops (dp_prog.h), generated from the same X-macro
 * lists as the enum, so the code generator sees exactly the decoded
 * behaviour the interpreter dispatches on ("add64_k", "ldx_ld16",
 * "fetch_add32", ...) and cannot drift from it.
 */
#ifndef DP_JIT_OPS_H
#define DP_JIT_OPS_H

#include "dp_prog.h"

static const char *const dp_jit_opnames[DP_X__count] = {
    [DP_X_invalid] = "invalid",
#define DP_N_Q(n) [DP_X_##n##64_k] = #n "64_k", [DP_X_##n##64_x] = #n "64_x", \
                  [DP_X_##n##32_k] = #n "32_k", [DP_X_##n##32_x] = #n "32_x",
    DP_ALU_BINOPS(DP_N_Q)
    DP_JMP_CONDS(DP_N_Q)
#undef DP_N_Q
#define DP_N_UN(n) [DP_X_##n] = #n,
    DP_UNOPS_DST(DP_N_UN)
    DP_UNOPS_SRC(DP_N_UN)
#undef DP_N_UN
#define DP_N_LD(n, sz) [DP_X_ldx_##n] = "ldx_" #n,
    DP_LOADS(DP_N_LD)
#undef DP_N_LD
#define DP_N_ST(n, sz) [DP_X_st_##n] = "st_" #n, [DP_X_stx_##n] = "stx_" #n,
    DP_STORES(DP_N_ST)
#undef DP_N_ST
#define DP_N_AT(n, sz) [DP_X_atomic_##n] = "atomic_" #n, [DP_X_fetch_##n] = "fetch_" #n,
    DP_ATOMIC_RMW(DP_N_AT)
#undef DP_N_AT
    [DP_X_xchg32] = "xchg32", [DP_X_xchg64] = "xchg64",
    [DP_X_cmpxchg32] = "cmpxchg32", [DP_X_cmpxchg64] = "cmpxchg64",
#define DP_N_PKT(sz) [DP_X_ldabs##sz] = "ldabs" #sz, [DP_X_ldind##sz] = "ldind" #sz,
    DP_PKT_SIZES(DP_N_PKT)
#undef DP_N_PKT
    [DP_X_lddw] = "lddw",
    [DP_X_ja] = "ja",
    [DP_X_call_helper] = "call_helper",
    [DP_X_callx] = "callx",
    [DP_X_call_local] = "call_local",
    [DP_X_call_kfunc] = "call_kfunc",
    [DP_X_exit] = "exit",
};

static inline const char *dp_jit_opname(unsigned op) { return op < DP_X__count ? dp_jit_opnames[op] : "invalid"; }

#endif /* DP_JIT_OPS_H */
