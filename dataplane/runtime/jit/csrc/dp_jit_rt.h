/*
 * Run-time support included by every C file the JIT generates
 * (dataplane/runtime/jit/codegen.py).
 *
 * The generated .so is dlopen'ed RTLD_LOCAL, so it cannot call into the
 * extension module that loaded it: everything it needs besides libc is a
 * static function here. Instruction semantics come from bpf_semantics.h,
 * shared with the interpreter, so the two engines agree by construction.
 * Error texts copy the interpreter's wording so a checked-mode fault reads
 * the same whichever engine ran the program.
 */
#ifndef DP_JIT_RT_H
#define DP_JIT_RT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bpf_semantics.h"
#include "dp_budget.h"     /* the instruction budget of checked (unverified) code */
#include "dp_env.h"
#include "dp_jit_helpers.h" /* helpers called inline from verified code */
#include "dp_helpers.h"   /* struct dp_xdp_buff / dp_skb: verified ctx loads; dp_maps.h: inline lookups */
#include "dp_memerr.h"
#include "dp_prog.h"      /* struct dp_xinsn: relocated lddw immediates (env->cur_prog) */

#define DP_JIT_COLD static __attribute__((noinline, cold))

DP_JIT_COLD void dp_jit_fail_mem(struct dp_env *env, int32_t pc, uint64_t a, uint32_t size, uint32_t need)
{
    dp_format_mem_error(env, pc, a, size, need);
    env->err_pc = pc;
    env->stop = DP_STOP_ERROR;
}

DP_JIT_COLD void dp_jit_fail_unknown(struct dp_env *env, const char *kind, uint64_t id, int32_t pc)
{
    snprintf(env->errmsg, sizeof(env->errmsg), "call to unknown %s %llu at insn %d", kind,
             (unsigned long long)id, (int)pc);
    env->err_pc = pc;
    env->stop = DP_STOP_ERROR;
}

DP_JIT_COLD void dp_jit_fail_depth(struct dp_env *env, int32_t pc)
{
    snprintf(env->errmsg, sizeof(env->errmsg), "call at insn %d exceeds the maximum call depth of %d frames",
             (int)pc, DP_MAX_CALL_FRAMES);
    env->err_pc = pc;
    env->stop = DP_STOP_ERROR;
}

/* A helper or kfunc set env->stop. DP_STOP_EXIT ends the program normally
 * (r0 = the call's return value); DP_STOP_ERROR gets the interpreter's
 * "helper N failed at insn I: why" wrapping. */
DP_JIT_COLD void dp_jit_stopped(struct dp_env *env, const char *kind, uint64_t id, int32_t pc)
{
    char why[DP_ERRMSG_LEN];
    if (env->stop == DP_STOP_EXIT || env->stop == DP_STOP_TAIL)
        return;
    memcpy(why, env->errmsg, sizeof(why));
    why[sizeof(why) - 1] = 0;
    snprintf(env->errmsg, sizeof(env->errmsg), "%s %llu failed at insn %d: %.200s", kind,
             (unsigned long long)id, (int)pc, why[0] ? why : "stopped");
    env->err_pc = pc;
}

/* Fetching or/and/xor as explicit compare-and-swap loops. x86 has no
 * fetch-or instruction, so GCC 12 expands __atomic_fetch_or into such a loop
 * itself -- and at -O1/-O2 miscompiled `r7 = __atomic_fetch_or(p, r7)` in
 * generated code (the operand's register coalesced with the result: the
 * loop stored the old value unchanged; test_jit_vs_interp random program 46
 * once f0 stopped being inlined). Same semantics as bpf_semantics.h. */
#define DP_JIT_FETCH(name, T, op)                                                        \
    static inline __attribute__((noinline)) uint64_t dp_jit_fetch_##name(void *p, uint64_t v) \
    {                                                                                    \
        T old = __atomic_load_n((T *)p, __ATOMIC_RELAXED);                               \
        while (!__atomic_compare_exchange_n((T *)p, &old, (T)(old op (T)v), 1, __ATOMIC_SEQ_CST, \
                                            __ATOMIC_RELAXED))                           \
            ;                                                                            \
        return old;                                                                      \
    }
DP_JIT_FETCH(or32, uint32_t, |)
DP_JIT_FETCH(and32, uint32_t, &)
DP_JIT_FETCH(xor32, uint32_t, ^)
DP_JIT_FETCH(or64, uint64_t, |)
DP_JIT_FETCH(and64, uint64_t, &)
DP_JIT_FETCH(xor64, uint64_t, ^)
#undef DP_JIT_FETCH

/* An access missed every region but hits env's ctx: stores, atomics and
 * sign-extending loads are never allowed there (the interpreter's
 * ctx_access path, same text). */
DP_JIT_COLD void dp_jit_ctx_bad(struct dp_env *env, uint64_t a, uint32_t size, int32_t pc)
{
    snprintf(env->errmsg, sizeof(env->errmsg), "invalid bpf_context access off=%u size=%u at insn %d",
             (unsigned)(a - env->ctx_lo), (unsigned)size, (int)pc);
    env->err_pc = pc;
    env->stop = DP_STOP_ERROR;
}

/* A plain load from env's ctx: the hook computes the value (xdp_md->data is
 * a real 64-bit pointer here, as after the kernel's convert_ctx_access).
 * 0 and *out, or -1 with the interpreter's error text. */
DP_JIT_COLD int dp_jit_ctx_load(struct dp_env *env, uint64_t a, uint32_t size, uint64_t *out, int32_t pc)
{
    char why[DP_ERRMSG_LEN];
    if (!env->ctx_load) {
        dp_jit_ctx_bad(env, a, size, pc);
        return -1;
    }
    if (env->ctx_load(env, (uint32_t)(a - env->ctx_lo), size, out) == 0)
        return 0;
    memcpy(why, env->errmsg, sizeof(why));
    why[sizeof(why) - 1] = 0;
    snprintf(env->errmsg, sizeof(env->errmsg), "%.200s at insn %d", why, (int)pc);
    env->err_pc = pc;
    env->stop = DP_STOP_ERROR;
    return -1;
}

/* Checked access: the active stack frames first, then the input memory,
 * then the region table, then the ctx -- the interpreter's order
 * (dp_interp_loop.h). Expects locals slo/stop (stack bounds) and
 * mlo/mlen/mwlen (input memory) and a `fail` label in the enclosing
 * function. Used for everything but plain loads (DP_JIT_LOAD), so a ctx
 * hit here is always an invalid access. */
#define DP_JIT_ACCESS(p, addr, size, need, lenvar, pc)                                          \
    do {                                                                                        \
        uint64_t a_ = (addr);                                                                   \
        p = (void *)(uintptr_t)a_;                                                              \
        if (DP_LIKELY(a_ - slo <= stop - slo - (size))) {                                       \
        } else if (DP_LIKELY(a_ - mlo < lenvar && (size) <= lenvar - (a_ - mlo))) {             \
        } else if (DP_UNLIKELY(!dp_region_find(env, a_, (size), (need)))) {                        \
            if (a_ - env->ctx_lo < env->ctx_len)                                                \
                dp_jit_ctx_bad(env, a_, (size), (pc));                                          \
            else                                                                                \
                dp_jit_fail_mem(env, (pc), a_, (size), (need));                                 \
            goto fail;                                                                          \
        }                                                                                       \
    } while (0)

/* Checked plain load (ld8..ld64) into `dst`: as DP_JIT_ACCESS, but a miss
 * that hits the ctx goes through env->ctx_load. */
#define DP_JIT_LOAD(dst, acc, addr, size, pc)                                                   \
    do {                                                                                        \
        uint64_t a_ = (addr);                                                                   \
        if (DP_LIKELY(a_ - slo <= stop - slo - (size))) {                                       \
        } else if (DP_LIKELY(a_ - mlo < mlen && (size) <= mlen - (a_ - mlo))) {                 \
        } else if (DP_UNLIKELY(!dp_region_find(env, a_, (size), DP_REGION_READ))) {                \
            uint64_t v_;                                                                        \
            if (a_ - env->ctx_lo < env->ctx_len) {                                              \
                if (dp_jit_ctx_load(env, a_, (size), &v_, (pc)) != 0)                           \
                    goto fail;                                                                  \
                dst = v_;                                                                       \
                break;                                                                          \
            }                                                                                   \
            dp_jit_fail_mem(env, (pc), a_, (size), DP_REGION_READ);                             \
            goto fail;                                                                          \
        }                                                                                       \
        dst = dp_##acc((const void *)(uintptr_t)a_);                                            \
    } while (0)

/* Tail calls and callbacks cross programs, i.e. shared objects. The .so is
 * dlopen'ed RTLD_LOCAL and cannot link against the engine, so the engine
 * stores its tail-call continuation here after dlopen (one per .so; a
 * bundle includes this header once). The hook gets the caller's registers
 * in regs[0..9] and the frame depth, runs env->tail_target's code in the
 * same frame and returns its r0 (regs[0..5] updated as by an exit). */
typedef uint64_t (*dp_jit_entry_fn)(struct dp_env *env, uint64_t *regs, int depth);
__attribute__((visibility("default"))) dp_jit_entry_fn dp_jit_tail_hook;

DP_JIT_COLD uint64_t dp_jit_tail(struct dp_env *env, uint64_t *regs, int depth, int32_t pc)
{
    if (!dp_jit_tail_hook) {
        snprintf(env->errmsg, sizeof(env->errmsg), "tail call at insn %d: JIT tail-call hook not set", (int)pc);
        env->err_pc = pc;
        env->stop = DP_STOP_ERROR;
        return 0;
    }
    return dp_jit_tail_hook(env, regs, depth);
}

/* A budget checkpoint of checked code (dp_budget.h): `bu` is the function's
 * count of instructions run, charged a basic block at a time. */
#define DP_JIT_CHECKPOINT(pc)                                                                   \
    do {                                                                                        \
        if (dp_budget_spent(env, bu)) {                                                         \
            dp_budget_fail(env, (pc));                                                          \
            env->stop = DP_STOP_ERROR;                                                          \
            goto fail;                                                                          \
        }                                                                                       \
    } while (0)

/* Input memory may change under a helper (e.g. a packet resized by one):
 * the generated code re-reads it after every call. */
#define DP_JIT_RELOAD() do { mlo = env->mem_lo; mlen = env->mem_len; mwlen = env->mem_wlen; } while (0)

#endif /* DP_JIT_RT_H */
