/*
 * The reference interpreter: a computed-goto dispatch loop over a decoded
 * program (dp_prog.h), bounds-checking every memory access against the
 * regions of a struct dp_env (dp_env.h).
 */
#ifndef DP_INTERP_H
#define DP_INTERP_H

#include "dp_env.h"
#include "dp_prog.h"

/* Run once with r1, r2 as given (r10 = top of frame 0, other registers 0).
 * Returns 0 and stores r0 in *r0, or -1 with env->errmsg / env->err_pc set.
 * Picks the counting variant when env->insn_limit or env->count_insns is set. */
int dp_run(const struct dp_prog *prog, struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t *r0);

/* Run n times back to back (benchmarks); stops at the first error. */
int dp_run_repeat(const struct dp_prog *prog, struct dp_env *env, uint64_t r1, uint64_t r2,
                  uint64_t n, uint64_t *r0);

#endif /* DP_INTERP_H */
