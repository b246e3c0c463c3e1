/* The text of an out-of-bounds memory error, shared by the interpreter and
 * the JIT's checked mode so both engines report a fault identically (tests
 * compare their messages).  Cold path only: it runs once, after a miss. */
#ifndef DP_MEMERR_H
#define DP_MEMERR_H

#include <stdio.h>

#include "dp_env.h"

/* Say why an access failed, to make a bad offset in a user's program quick
 * to find: which region it hit or missed, and how. */
static __attribute__((noinline, cold, unused)) void dp_describe_miss(struct dp_env *env, uint64_t a, uint64_t size, uint32_t need, char *out, size_t len)
{
    uint64_t stack_bottom = (uint64_t)(uintptr_t)env->stack;
    uint32_t i;

    if (a >= stack_bottom && a < env->stack_top) {
        if (a < env->stack_lo)
            snprintf(out, len, "below the current stack frame, r10-%llu",
                     (unsigned long long)(env->stack_lo + DP_STACK_SIZE - a));
        else
            snprintf(out, len, "crosses the top of the stack");
        return;
    }
    if (a >= env->stack_top && a - env->stack_top < DP_STACK_SIZE) {
        snprintf(out, len, "above the top of the stack, r10+%llu", (unsigned long long)(a - env->stack_top));
        return;
    }
    if (a + size > stack_bottom && a < stack_bottom) {
        snprintf(out, len, "crosses the bottom of the stack");
        return;
    }
    if (env->mem_len && a - env->mem_lo < env->mem_len) {
        if ((need & DP_REGION_WRITE) && env->mem_wlen == 0)
            snprintf(out, len, "input memory is read-only");
        else
            snprintf(out, len, "crosses the end of the input memory, %llu bytes at 0x%llx",
                     (unsigned long long)env->mem_len, (unsigned long long)env->mem_lo);
        return;
    }
    for (i = env->nregions; i-- > 0;) {
        const struct dp_region *r = &env->regions[i];
        if (a - r->lo < r->len) {
            if ((r->flags & need) != need)
                snprintf(out, len, "region %u at 0x%llx is %s", i, (unsigned long long)r->lo,
                         (r->flags & DP_REGION_WRITE) ? "write-only" : "read-only");
            else
                snprintf(out, len, "crosses the end of region %u, %llu bytes at 0x%llx", i,
                         (unsigned long long)r->len, (unsigned long long)r->lo);
            return;
        }
    }
    snprintf(out, len, "no region");
}

static __attribute__((noinline, cold, unused)) void dp_format_mem_error(struct dp_env *env, int32_t pc, uint64_t a, uint32_t size, uint32_t need)
{
    char where[160];
    const char *what = need == DP_REGION_READ ? "load" : need == DP_REGION_WRITE ? "store" : "atomic";
    dp_describe_miss(env, a, size, need, where, sizeof(where));
    snprintf(env->errmsg, sizeof(env->errmsg), "out of bounds memory %s at insn %d: %u bytes at 0x%llx (%s)",
             what, (int)pc, size, (unsigned long long)a, where);
}

#endif /* DP_MEMERR_H */
