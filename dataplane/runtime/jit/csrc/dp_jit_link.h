/*
 * What connects JIT-compiled programs to each other at run time: tail calls
 * (bpf_tail_call names a target by its `struct dp_prog *`, what PROG_ARRAY
 * slots hold) and callbacks (env->call_sub re-enters the running program at
 * an instruction index).
 *
 * Every compiled program publishes its entries (<entry>_regs, <entry>_sub of
 * its .so) on its own struct dp_prog, one pair per mode (jit_entry[checked],
 * jit_sub[checked]). A tail call reads the target's pointer with one atomic
 * load: there is no shared table, so the control plane compiling or freeing
 * *other* programs (a collection loaded or unloaded while a worker runs)
 * can never move memory a worker is reading. The target must be compiled in
 * the same mode -- the kernel's rule that a PROG_ARRAY only holds programs
 * of one kind, restated for engines.
 *
 * Publishing happens with the GIL held (engine.pyx _Native); when several
 * compiled copies of one program exist, the newest is published and a
 * freed one is replaced by a survivor (or NULL). Freeing the code a worker
 * is running (or is about to tail-call into) stays the owner's business:
 * hooks keep the programs of a chain alive while it can run.
 */
#ifndef DP_JIT_LINK_H
#define DP_JIT_LINK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_budget.h"
#include "dp_env.h"
#include "dp_prog.h"

/* <entry>_regs and <entry>_sub of a generated .so (codegen.generate). */
typedef uint64_t (*dp_jit_regs_fn)(struct dp_env *env, uint64_t *regs, int depth);
typedef uint64_t (*dp_jit_sub_fn)(struct dp_env *env, uint32_t start, uint64_t *regs, int depth);

/* Mode of the run in progress on this thread: tail calls and callbacks
 * stay in it (a checked program never continues in unchecked code). */
static __thread int dp_jit_cur_checked;

/* Make (entry, sub) the code of `prog` in mode `checked` (NULLs: none).
 * sub is stored first, so a reader that sees the new entry also sees a sub
 * of live code (the pair of one .so, or of an equivalent copy). */
static void dp_jit_link_publish(const struct dp_prog *prog, int checked, dp_jit_regs_fn entry, dp_jit_sub_fn sub)
{
    struct dp_prog *p = (struct dp_prog *)prog;
    __atomic_store_n(&p->jit_sub[checked ? 1 : 0], (void *)sub, __ATOMIC_RELEASE);
    __atomic_store_n(&p->jit_entry[checked ? 1 : 0], (void *)entry, __ATOMIC_RELEASE);
}

static inline dp_jit_regs_fn dp_jit_link_entry(const struct dp_prog *prog, int checked)
{
    return (dp_jit_regs_fn)__atomic_load_n(&prog->jit_entry[checked ? 1 : 0], __ATOMIC_ACQUIRE);
}

static inline dp_jit_sub_fn dp_jit_link_sub(const struct dp_prog *prog, int checked)
{
    return (dp_jit_sub_fn)__atomic_load_n(&prog->jit_sub[checked ? 1 : 0], __ATOMIC_ACQUIRE);
}

/* dp_jit_tail_hook of every .so: the helper set env->tail_target and
 * DP_STOP_TAIL; continue there with the caller's registers and frame, as
 * the interpreter does (the helper already counted the call). */
static uint64_t dp_jit_tail_continue(struct dp_env *env, uint64_t *regs, int depth)
{
    const struct dp_prog *target = env->tail_target;
    dp_jit_regs_fn entry = target ? dp_jit_link_entry(target, dp_jit_cur_checked) : NULL;
    if (!entry) {
        snprintf(env->errmsg, sizeof(env->errmsg),
                 "helper 12 failed at insn %d: bpf_tail_call target is not JIT-compiled (%s mode)",
                 (int)env->cur_pc, dp_jit_cur_checked ? "checked" : "unchecked");
        env->err_pc = env->cur_pc;
        env->stop = DP_STOP_ERROR;
        return 0;
    }
    env->stop = DP_STOP_NONE;
    env->cur_prog = target;
    return entry(env, regs, depth);
}

/* env->call_sub: run a callback of the current program in a fresh frame
 * below the deepest active one (dp_call_sub of dp_interp.c). */
static int dp_jit_call_sub(struct dp_env *env, uint32_t start, uint64_t r1, uint64_t r2, uint64_t r3,
                           uint64_t r4, uint64_t r5, uint64_t *r0)
{
    uint64_t regs[10] = {0, r1, r2, r3, r4, r5, 0, 0, 0, 0};
    uint64_t saved_lo = env->stack_lo;
    const struct dp_prog *prog = env->cur_prog;
    dp_jit_sub_fn sub = prog ? dp_jit_link_sub(prog, dp_jit_cur_checked) : NULL;
    int depth;
    if (!sub) {
        snprintf(env->errmsg, sizeof(env->errmsg), "callback at insn %u: program is not JIT-compiled", start);
        return -1;
    }
    if (saved_lo - (uint64_t)(uintptr_t)env->stack < DP_STACK_SIZE) {
        snprintf(env->errmsg, sizeof(env->errmsg), "callback exceeds the maximum call depth of %d frames",
                 DP_MAX_CALL_FRAMES);
        return -1;
    }
    if (dp_jit_cur_checked && dp_budget_spent(env, env->run_insns)) {   /* a checkpoint, as dp_call_sub */
        dp_budget_fail(env, (int32_t)start);
        return -1;
    }
    depth = (int)((env->stack_top - saved_lo) / DP_STACK_SIZE);
    /* unchecked callbacks have C-local frames (zeroed by their own code) */
    if (dp_jit_cur_checked)
        memset((void *)(uintptr_t)(saved_lo - DP_STACK_SIZE), 0, DP_STACK_SIZE);
    *r0 = sub(env, start, regs, depth);
    env->stack_lo = saved_lo;
    env->cur_prog = prog;
    if (env->stop == DP_STOP_ERROR) {
        env->stop = DP_STOP_NONE;  /* the calling helper decides (bpf_loop fails the program) */
        return -1;
    }
    return 0;
}

#endif /* DP_JIT_LINK_H */
