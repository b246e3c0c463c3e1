/* struct dp_env lifecycle, region table and helper-facing utilities. */
#include "dp_env.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dp_env_init(struct dp_env *env)
{
    memset(env, 0, sizeof(*env));
    /* 64-byte alignment: frames start on cache lines, and 8-byte stack slots
     * are naturally aligned for the atomics. */
    if (posix_memalign((void **)&env->stack, 64, DP_MAX_CALL_FRAMES * DP_STACK_SIZE) != 0) {
        env->stack = NULL;
        return -1;
    }
    memset(env->stack, 0, DP_MAX_CALL_FRAMES * DP_STACK_SIZE);
    env->stack_top = (uint64_t)(uintptr_t)(env->stack + DP_MAX_CALL_FRAMES * DP_STACK_SIZE);
    env->stack_lo = env->stack_top - DP_STACK_SIZE;
    env->cap_regions = 16;
    env->regions = calloc(env->cap_regions, sizeof(*env->regions));
    if (!env->regions) {
        free(env->stack);
        env->stack = NULL;
        return -1;
    }
    env->err_pc = -1;
    return 0;
}

void dp_env_free(struct dp_env *env)
{
    free(env->stack);
    free(env->regions);
    env->stack = NULL;
    env->regions = NULL;
    env->nregions = env->nfixed = env->cap_regions = 0;
}

int dp_env_add_region(struct dp_env *env, const void *ptr, uint64_t len, uint32_t flags, uint32_t kind)
{
    uint64_t lo = (uint64_t)(uintptr_t)ptr;
    uint32_t i;

    /* Helpers hand out the same map value over and over inside a loop;
     * without this check the table would grow with every lookup. */
    for (i = env->nregions; i-- > 0;) {
        struct dp_region *r = &env->regions[i];
        if (lo >= r->lo && lo - r->lo <= r->len && len <= r->len - (lo - r->lo) && (r->flags & flags) == flags)
            return 0;
    }
    if (env->nregions == env->cap_regions) {
        uint32_t cap = env->cap_regions * 2;
        struct dp_region *nr;
        if (cap > DP_MAX_REGIONS)
            return -1;
        nr = realloc(env->regions, cap * sizeof(*nr));
        if (!nr)
            return -1;
        env->regions = nr;
        env->cap_regions = cap;
    }
    env->regions[env->nregions].lo = lo;
    env->regions[env->nregions].len = len;
    env->regions[env->nregions].flags = flags;
    env->regions[env->nregions].kind = kind;
    env->nregions++;
    return 0;
}

void dp_env_fix_regions(struct dp_env *env) { env->nfixed = env->nregions; }

void dp_env_clear_regions(struct dp_env *env) { env->nregions = env->nfixed = 0; }

uint64_t dp_env_fail(struct dp_env *env, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(env->errmsg, sizeof(env->errmsg), fmt, ap);
    va_end(ap);
    env->stop = DP_STOP_ERROR;
    return 0;
}

void *dp_env_find(struct dp_env *env, uint64_t addr, uint64_t size, uint32_t need)
{
    return dp_region_find(env, addr, size, need);
}

uint64_t dp_helper_unwind(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (r1 == 0)
        env->stop = DP_STOP_EXIT;
    return r1;
}

void *dp_env_mem(struct dp_env *env, uint64_t addr, uint64_t size, uint32_t need)
{
    if (size == 0 || env->trusted)
        return (void *)(uintptr_t)addr;
    if (addr - env->stack_lo < env->stack_top - env->stack_lo && size <= env->stack_top - addr)
        return (void *)(uintptr_t)addr;
    if (env->mem_len && addr - env->mem_lo < env->mem_len && size <= env->mem_len - (addr - env->mem_lo) &&
        (!(need & DP_REGION_WRITE) || env->mem_wlen))
        return (void *)(uintptr_t)addr;
    return dp_env_find(env, addr, size, need);
}
