/*
 * The per-run instruction budget of unverified programs, shared by the
 * interpreter (dp_interp_loop.h, counting variant) and checked-mode JIT code
 * (codegen.py), so both stop a run at the same instruction with the same
 * message.
 *
 * Semantics (documented in the README, "Unverified programs"): every
 * executed instruction counts (lddw once); the count is compared with
 * env->insn_limit only at checkpoints -- a backward jump about to be taken,
 * a call (helper, kfunc, bpf-to-bpf) about to be made, and the entry of a
 * callback (bpf_loop & co). The first checkpoint reached with more than
 * insn_limit instructions counted ends the run as a fault: XDP_ABORTED in
 * a chain, the program's errors and budget counters, env->budget_hit =
 * DP_BUDGET_SPENT. The same checkpoints honour env->cancel (a stop request
 * of the run's feeder): the run ends there, DP_BUDGET_CANCELLED.
 * Straight-line code between checkpoints is never cut, so the JIT charges
 * a whole basic block at its start and compares only at checkpoints: the
 * verified programs' unchecked code carries none of this.
 *
 * Like the kernel's runtime loop guards (bpf_loop's BPF_MAX_LOOPS,
 * may_goto's count at back-edges), the budget ends a run instead of hanging
 * the CPU; its default (1M) is the kernel verifier's complexity limit
 * (BPF_COMPLEXITY_LIMIT_INSNS), the most a verified program may be
 * analysed for.
 */
#ifndef DP_BUDGET_H
#define DP_BUDGET_H

#include <stdint.h>
#include <stdio.h>

#include "dp_env.h"

/* env->budget_hit after a run */
#define DP_BUDGET_SPENT 1       /* past insn_limit: a fault (XDP_ABORTED in a chain) */
#define DP_BUDGET_CANCELLED 2   /* *env->cancel was set: the run was abandoned, it has no verdict */

/* insn_limit is read with a relaxed atomic load: the control plane may
 * lower it while a run is in progress (a program being stopped). */
static inline uint64_t dp_budget_limit(const struct dp_env *env)
{
    return __atomic_load_n(&env->insn_limit, __ATOMIC_RELAXED);
}

/* Whoever feeds the run asked it to stop (env->cancel, set from another
 * thread: a volatile load, one per checkpoint of checked code only). */
static inline int dp_budget_cancelled(const struct dp_env *env)
{
    const volatile int *c = env->cancel;
    return c != NULL && *c != 0;
}

/* Nonzero when `used` instructions are past the budget (0 = unlimited), or
 * the run was asked to stop: both end it at this checkpoint. */
static inline int dp_budget_spent(const struct dp_env *env, uint64_t used)
{
    uint64_t lim = dp_budget_limit(env);
    return __builtin_expect((lim != 0 && used > lim) || dp_budget_cancelled(env), 0);
}

/* The end of the run: message, err_pc and budget_hit (the caller sets the
 * stop). A cancel wins over a spent budget: the run is abandoned either way
 * and its caller (dp_chain_run) gives the packet no verdict. */
static __attribute__((noinline, cold)) void dp_budget_fail(struct dp_env *env, int32_t pc)
{
    if (dp_budget_cancelled(env)) {
        snprintf(env->errmsg, sizeof(env->errmsg), "run cancelled at insn %d (its source was stopped)", (int)pc);
        env->budget_hit = DP_BUDGET_CANCELLED;
    } else {
        snprintf(env->errmsg, sizeof(env->errmsg),
                 "instruction limit of %llu exceeded at insn %d (unverified program stopped by its budget)",
                 (unsigned long long)dp_budget_limit(env), (int)pc);
        env->budget_hit = DP_BUDGET_SPENT;
    }
    env->err_pc = pc;
}

#endif /* DP_BUDGET_H */
