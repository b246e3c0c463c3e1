/*
 * What connects JIT-compiled programs to each other at run time: tail calls
 * (bpf_tail_call names a target by its `struct dp_prog *`, what PROG_ARRAY
 * slots hold) and callbacks (env->call_sub re-enters the running program at
 * an instruction index).
 *
 * Every JitProgram registers (decoded program, checked, exported entries of
 * its .so). A tail call looks the target up here; the target must be a
 * JitProgram of the same mode (in the same process) -- the kernel's rule
 * that a PROG_ARRAY only holds programs of one kind, restated for engines.
 *
 * The table is changed only with the GIL held (JitProgram construction and
 * deallocation); lookups run without it. Programs must not be created or
 * destroyed while another thread runs a tail call.
 */
#ifndef DP_JIT_LINK_H
#define DP_JIT_LINK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dp_env.h"

/* <entry>_regs and <entry>_sub of a generated .so (codegen.generate). */
typedef uint64_t (*dp_jit_regs_fn)(struct dp_env *env, uint64_t *regs, int depth);
typedef uint64_t (*dp_jit_sub_fn)(struct dp_env *env, uint32_t start, uint64_t *regs, int depth);

struct dp_jit_link {
    const struct dp_prog *prog;
    int checked;
    dp_jit_regs_fn entry;
    dp_jit_sub_fn sub;
    const void *owner;
};

static struct dp_jit_link *dp_jit_links;
static uint32_t dp_jit_nlinks, dp_jit_caplinks;
/* Mode of the run in progress on this thread: tail calls and callbacks
 * stay in it (a checked program never continues in unchecked code). */
static __thread int dp_jit_cur_checked;

static int dp_jit_link_add(const struct dp_prog *prog, int checked, dp_jit_regs_fn entry, dp_jit_sub_fn sub,
                           const void *owner)
{
    if (dp_jit_nlinks == dp_jit_caplinks) {
        uint32_t cap = dp_jit_caplinks ? 2 * dp_jit_caplinks : 16;
        struct dp_jit_link *n = realloc(dp_jit_links, cap * sizeof(*n));
        if (!n)
            return -1;
        dp_jit_links = n;
        dp_jit_caplinks = cap;
    }
    dp_jit_links[dp_jit_nlinks].prog = prog;
    dp_jit_links[dp_jit_nlinks].checked = checked;
    dp_jit_links[dp_jit_nlinks].entry = entry;
    dp_jit_links[dp_jit_nlinks].sub = sub;
    dp_jit_links[dp_jit_nlinks].owner = owner;
    dp_jit_nlinks++;
    return 0;
}

static void dp_jit_link_remove(const void *owner)
{
    uint32_t i;
    for (i = 0; i < dp_jit_nlinks; i++) {
        if (dp_jit_links[i].owner == owner) {
            dp_jit_links[i] = dp_jit_links[--dp_jit_nlinks];
            return;
        }
    }
}

/* Newest first: a re-created program shadows a stale twin (same code). */
static const struct dp_jit_link *dp_jit_link_find(const struct dp_prog *prog, int checked)
{
    uint32_t i;
    for (i = dp_jit_nlinks; i-- > 0;)
        if (dp_jit_links[i].prog == prog && dp_jit_links[i].checked == checked)
            return &dp_jit_links[i];
    return NULL;
}

/* dp_jit_tail_hook of every .so: the helper set env->tail_target and
 * DP_STOP_TAIL; continue there with the caller's registers and frame, as
 * the interpreter does (the helper already counted the call). */
static uint64_t dp_jit_tail_continue(struct dp_env *env, uint64_t *regs, int depth)
{
    const struct dp_prog *target = env->tail_target;
    const struct dp_jit_link *l = dp_jit_link_find(target, dp_jit_cur_checked);
    if (!l) {
        snprintf(env->errmsg, sizeof(env->errmsg),
                 "helper 12 failed at insn %d: bpf_tail_call target is not JIT-compiled (%s mode)",
                 (int)env->cur_pc, dp_jit_cur_checked ? "checked" : "unchecked");
        env->err_pc = env->cur_pc;
        env->stop = DP_STOP_ERROR;
        return 0;
    }
    env->stop = DP_STOP_NONE;
    env->cur_prog = target;
    return l->entry(env, regs, depth);
}

/* env->call_sub: run a callback of the current program in a fresh frame
 * below the deepest active one (dp_call_sub of dp_interp.c). */
static int dp_jit_call_sub(struct dp_env *env, uint32_t start, uint64_t r1, uint64_t r2, uint64_t r3,
                           uint64_t r4, uint64_t r5, uint64_t *r0)
{
    uint64_t regs[10] = {0, r1, r2, r3, r4, r5, 0, 0, 0, 0};
    uint64_t saved_lo = env->stack_lo;
    const struct dp_prog *prog = env->cur_prog;
    const struct dp_jit_link *l = dp_jit_link_find(prog, dp_jit_cur_checked);
    int depth;
    if (!l) {
        snprintf(env->errmsg, sizeof(env->errmsg), "callback at insn %u: program is not JIT-compiled", start);
        return -1;
    }
    if (saved_lo - (uint64_t)(uintptr_t)env->stack < DP_STACK_SIZE) {
        snprintf(env->errmsg, sizeof(env->errmsg), "callback exceeds the maximum call depth of %d frames",
                 DP_MAX_CALL_FRAMES);
        return -1;
    }
    depth = (int)((env->stack_top - saved_lo) / DP_STACK_SIZE);
    /* unchecked callbacks have C-local frames (zeroed by their own code) */
    if (dp_jit_cur_checked)
        memset((void *)(uintptr_t)(saved_lo - DP_STACK_SIZE), 0, DP_STACK_SIZE);
    *r0 = l->sub(env, start, regs, depth);
    env->stack_lo = saved_lo;
    env->cur_prog = prog;
    if (env->stop == DP_STOP_ERROR) {
        env->stop = DP_STOP_NONE;  /* the calling helper decides (bpf_loop fails the program) */
        return -1;
    }
    return 0;
}

#endif /* DP_JIT_LINK_H */
