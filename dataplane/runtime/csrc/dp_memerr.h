/* The text of an out-of-bounds memory error, shared by the interpreter and
 * the JIT's checked mode so both engines report a fault identically (tests
 * compare their messages).  Cold path only: it runs once, after a miss. */
#ifndef DP_MEMERR_H
#define DP_MEMERR_H

#include <stdio.h>

#include "dp_env.h"

/* Say why an access failed, to make a bad offset in a user's program quick
 * to find: which region it hit or missed, and how.  Addresses are given
 * relative to what they hit or missed (r10-N, input+N, region I+N), never
 * raw: a raw value would hand a client the service's heap layout.  Only a
 * small wild address (a NULL-ish pointer) is printed as it is. */
static __attribute__((noinline, cold, unused)) void dp_describe_miss(struct dp_env *env, uint64_t a, uint64_t size, uint32_t need, char *out, size_t len, char *at, size_t atlen)
{
    uint64_t stack_bottom = (uint64_t)(uintptr_t)env->stack;
    uint32_t i;

    if (a >= stack_bottom && a < env->stack_top) {
        snprintf(at, atlen, "r10-%llu", (unsigned long long)(env->stack_top - a));
        if (a < env->stack_lo)
            snprintf(out, len, "below the current stack frame, r10-%llu",
                     (unsigned long long)(env->stack_lo + DP_STACK_SIZE - a));
        else
            snprintf(out, len, "crosses the top of the stack");
        return;
    }
    if (a >= env->stack_top && a - env->stack_top < DP_STACK_SIZE) {
        snprintf(at, atlen, "r10+%llu", (unsigned long long)(a - env->stack_top));
        snprintf(out, len, "above the top of the stack, r10+%llu", (unsigned long long)(a - env->stack_top));
        return;
    }
    if (a + size > stack_bottom && a < stack_bottom) {
        snprintf(at, atlen, "r10-%llu", (unsigned long long)(env->stack_top - a));
        snprintf(out, len, "crosses the bottom of the stack");
        return;
    }
    if (env->mem_len && a - env->mem_lo < env->mem_len) {
        snprintf(at, atlen, "input+%llu", (unsigned long long)(a - env->mem_lo));
        if ((need & DP_REGION_WRITE) && env->mem_wlen == 0)
            snprintf(out, len, "input memory is read-only");
        else
            snprintf(out, len, "crosses the end of the input memory, %llu bytes",
                     (unsigned long long)env->mem_len);
        return;
    }
    for (i = env->nregions; i-- > 0;) {
        const struct dp_region *r = &env->regions[i];
        if (a - r->lo < r->len) {
            snprintf(at, atlen, "region %u+%llu", i, (unsigned long long)(a - r->lo));
            if ((r->flags & need) != need)
                snprintf(out, len, "region %u is %s", i,
                         (r->flags & DP_REGION_WRITE) ? "write-only" : "read-only");
            else
                snprintf(out, len, "crosses the end of region %u, %llu bytes", i,
                         (unsigned long long)r->len);
            return;
        }
    }
    if (a < 0x10000)
        snprintf(at, atlen, "0x%llx", (unsigned long long)a);
    else
        snprintf(at, atlen, "an address outside every region");
    snprintf(out, len, "no region");
}

static __attribute__((noinline, cold, unused)) void dp_format_mem_error(struct dp_env *env, int32_t pc, uint64_t a, uint32_t size, uint32_t need)
{
    /* sized so the whole message fits env->errmsg (256): 52 fixed + 63 + 127 */
    char where[128], at[64];
    const char *what = need == DP_REGION_READ ? "load" : need == DP_REGION_WRITE ? "store" : "atomic";
    dp_describe_miss(env, a, size, need, where, sizeof(where), at, sizeof(at));
    snprintf(env->errmsg, sizeof(env->errmsg), "out of bounds memory %s at insn %d: %u bytes at %s (%s)",
             what, (int)pc, size, at, where);
}

#endif /* DP_MEMERR_H */
