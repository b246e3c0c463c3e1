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
 * a chain, the program's errors and budget counters, env->budget_hit = 1.
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

/* insn_limit is read with a relaxed atomic load: the control plane may
 * lower it while a run is in progress (a program being stopped). */
static inline uint64_t dp_budget_limit(const struct dp_env *env)
{
    return __atomic_load_n(&env->insn_limit, __ATOMIC_RELAXED);
}

/* Nonzero when `used` instructions are past the budget (0 = unlimited). */
static inline int dp_budget_spent(const struct dp_env *env, uint64_t used)
{
    uint64_t lim = dp_budget_limit(env);
    return __builtin_expect(lim != 0 && used > lim, 0);
}

/* The fault: message, err_pc and budget_hit (the caller sets the stop). */
static __attribute__((noinline, cold)) void dp_budget_fail(struct dp_env *env, int32_t pc)
{
    snprintf(env->errmsg, sizeof(env->errmsg),
             "instruction limit of %llu exceeded at insn %d (unverified program stopped by its budget)",
             (unsigned long long)dp_budget_limit(env), (int)pc);
    env->err_pc = pc;
    env->budget_hit = 1;
}

#endif /* DP_BUDGET_H */
