/* Reference interpreter: run-time setup, error formatting and the two
 * instances of the dispatch loop (dp_interp_loop.h). */
#include "dp_interp.h"

#include <stdio.h>
#include <string.h>

#include "bpf_semantics.h"
#include "dp_budget.h"

#if !defined(__GNUC__)
#error "the interpreter needs GCC/Clang computed gotos (&&label)"
#endif

/* Saved caller state of a bpf-to-bpf call. */
struct dp_frame {
    const struct dp_xinsn *ret;
    const struct dp_xinsn *base;   /* the caller's program (a callee may tail-call) */
    uint64_t r6, r7, r8, r9, r10;
};

#include "dp_memerr.h"

#define DP_LOOP_NAME dp_loop_fast
#define DP_LOOP_COUNTING 0
#include "dp_interp_loop.h"
#undef DP_LOOP_NAME
#undef DP_LOOP_COUNTING

#define DP_LOOP_NAME dp_loop_counted
#define DP_LOOP_COUNTING 1
#include "dp_interp_loop.h"
#undef DP_LOOP_NAME
#undef DP_LOOP_COUNTING

/* bpf_loop & co: run a callback of the current program as a callee. */
static int dp_call_sub(struct dp_env *env, uint32_t start, uint64_t r1, uint64_t r2, uint64_t r3,
                       uint64_t r4, uint64_t r5, uint64_t *r0)
{
    uint64_t args[5] = {r1, r2, r3, r4, r5};
    uint64_t saved_lo = env->stack_lo;
    const struct dp_prog *prog = env->cur_prog;
    int rc;
    if (!prog || start >= prog->len) {
        snprintf(env->errmsg, sizeof(env->errmsg), "callback at insn %u is outside the program", start);
        return -1;
    }
    if (saved_lo - (uint64_t)(uintptr_t)env->stack < DP_STACK_SIZE) {
        snprintf(env->errmsg, sizeof(env->errmsg), "callback exceeds the maximum call depth of %d frames",
                 DP_MAX_CALL_FRAMES);
        return -1;
    }
    if (dp_budget_spent(env, env->run_insns)) {     /* a callback entry is a checkpoint */
        dp_budget_fail(env, (int32_t)start);
        return -1;
    }
    memset((void *)(uintptr_t)(saved_lo - DP_STACK_SIZE), 0, DP_STACK_SIZE);
    if (env->insn_limit || env->count_insns)
        rc = dp_loop_counted(prog, env, start, args, saved_lo, r0);
    else
        rc = dp_loop_fast(prog, env, start, args, saved_lo, r0);
    env->stack_lo = saved_lo;
    env->cur_prog = prog;
    return rc;
}

DP_INLINE void dp_run_setup(struct dp_env *env, const struct dp_prog *prog)
{
    env->stop = DP_STOP_NONE;
    env->cur_prog = prog;
    env->tail_target = NULL;
    env->tail_call_cnt = 0;
    env->call_sub = dp_call_sub;
    env->err_pc = -1;
    env->errmsg[0] = 0;
    env->run_insns = 0;
    env->budget_hit = 0;
    env->nregions = env->nfixed;  /* drop the previous run's dynamic regions */
    env->stack_lo = env->stack_top - DP_STACK_SIZE;
    /* A fresh zeroed frame each run keeps results reproducible (the verifier
     * forbids reading uninitialised stack, but unverified programs run here). */
    memset((void *)(uintptr_t)env->stack_lo, 0, DP_STACK_SIZE);
}

int dp_run(const struct dp_prog *prog, struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t *r0)
{
    uint64_t args[5] = {r1, r2, 0, 0, 0};
    int rc;
    dp_run_setup(env, prog);
    if (env->insn_limit || env->count_insns)
        rc = dp_loop_counted(prog, env, 0, args, env->stack_top, r0);
    else
        rc = dp_loop_fast(prog, env, 0, args, env->stack_top, r0);
    if (DP_UNLIKELY(env->run_end != NULL))
        env->run_end(env);    /* references an unverified program still holds (dp_run_end_fn) */
    return rc;
}

int dp_run_repeat(const struct dp_prog *prog, struct dp_env *env, uint64_t r1, uint64_t r2,
                  uint64_t n, uint64_t *r0)
{
    int counted = env->insn_limit || env->count_insns;
    uint64_t args[5] = {r1, r2, 0, 0, 0};
    uint64_t i;
    *r0 = 0;
    for (i = 0; i < n; i++) {
        int rc;
        dp_run_setup(env, prog);
        rc = counted ? dp_loop_counted(prog, env, 0, args, env->stack_top, r0)
                     : dp_loop_fast(prog, env, 0, args, env->stack_top, r0);
        if (DP_UNLIKELY(env->run_end != NULL))
            env->run_end(env);
        if (rc != 0)
            return rc;
    }
    return 0;
}
