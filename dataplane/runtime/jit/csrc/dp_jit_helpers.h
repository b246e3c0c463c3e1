/*
 * Kernel helpers called from verified (unchecked) JIT code without going
 * through the helper table: the generated C calls these inline functions
 * for the helper ids codegen.py lists in _INLINE_HELPERS, so a map update or
 * an adjust_head costs a direct call instead of an indirect call into the
 * helpers extension, its argument checks and the engine's stop check.
 *
 * Each one has exactly the semantics of the table's helper in trusted mode
 * (env->trusted: the verifier proved R1 is a map or the ctx and the memory
 * arguments are valid), from the same definitions: dp_maps.h (maps, through
 * the map's vtable), dp_xdp_adjust.h, dp_csum.h, dp_helpers.h. None of them
 * stops the program, except a tail call into code that is not compiled.
 */
#ifndef DP_JIT_HELPERS_H
#define DP_JIT_HELPERS_H

#include <stdint.h>
#include <stdio.h>

#include "bpf_semantics.h"
#include "dp_csum.h"
#include "dp_env.h"
#include "dp_helpers.h"
#include "dp_maps.h"
#include "dp_prog.h"
#include "dp_xdp_adjust.h"

#define DP_JIT_MAP(r) ((struct dp_map *)(uintptr_t)(r))
#define DP_JIT_PTR(r) ((void *)(uintptr_t)(r))

/* 2: bpf_map_update_elem, 3: delete, 87/88/89: push/pop/peek */
DP_INLINE uint64_t dp_jit_h_map_update(uint64_t m, uint64_t k, uint64_t v, uint64_t fl)
{
    return (uint64_t)dp_map_update_elem(DP_JIT_MAP(m), DP_JIT_PTR(k), DP_JIT_PTR(v), fl);
}
DP_INLINE uint64_t dp_jit_h_map_delete(uint64_t m, uint64_t k) { return (uint64_t)dp_map_delete_elem(DP_JIT_MAP(m), DP_JIT_PTR(k)); }
DP_INLINE uint64_t dp_jit_h_map_push(uint64_t m, uint64_t v, uint64_t fl) { return (uint64_t)dp_map_push_elem(DP_JIT_MAP(m), DP_JIT_PTR(v), fl); }
DP_INLINE uint64_t dp_jit_h_map_pop(uint64_t m, uint64_t v) { return (uint64_t)dp_map_pop_elem(DP_JIT_MAP(m), DP_JIT_PTR(v)); }
DP_INLINE uint64_t dp_jit_h_map_peek(uint64_t m, uint64_t v) { return (uint64_t)dp_map_peek_elem(DP_JIT_MAP(m), DP_JIT_PTR(v)); }

/* 195: bpf_map_lookup_percpu_elem (h_map_lookup_percpu_elem) */
DP_INLINE uint64_t dp_jit_h_map_lookup_percpu(uint64_t m, uint64_t k, uint64_t cpu)
{
    if ((uint32_t)cpu >= DP_JIT_MAP(m)->nr_cpus)
        return 0;
    return (uint64_t)(uintptr_t)dp_map_lookup_percpu_elem(DP_JIT_MAP(m), DP_JIT_PTR(k), (uint32_t)cpu);
}

/* 44: bpf_xdp_adjust_head, 54: bpf_xdp_adjust_meta (R1 is the XDP ctx) */
DP_INLINE uint64_t dp_jit_h_xdp_adjust_head(struct dp_env *env, uint64_t ctx, uint64_t off)
{
    return dp_xdp_adjust_head_do(env, (struct dp_xdp_buff *)(uintptr_t)ctx, (int32_t)off);
}
DP_INLINE uint64_t dp_jit_h_xdp_adjust_meta(struct dp_env *env, uint64_t ctx, uint64_t off)
{
    return dp_xdp_adjust_meta_do(env, (struct dp_xdp_buff *)(uintptr_t)ctx, (int32_t)off);
}

/* 28: bpf_csum_diff (the verifier checked both buffers against their sizes) */
DP_INLINE uint64_t dp_jit_h_csum_diff(uint64_t from, uint64_t fs, uint64_t to, uint64_t ts, uint64_t seed)
{
    if ((uint64_t)(uint32_t)fs + (uint32_t)ts > DP_CSUM_DIFF_MAX)
        return (uint64_t)-EINVAL;
    return dp_csum_diff_do((const uint8_t *)(uintptr_t)from, (uint32_t)fs, (const uint8_t *)(uintptr_t)to,
                           (uint32_t)ts, (uint32_t)seed);
}

/* 12: bpf_tail_call, split in two: the target, or NULL to fall through
 * (the checks and their order are h_tail_call's: an empty slot counts) ... */
DP_INLINE const struct dp_prog *dp_jit_tail_target(struct dp_env *env, uint64_t map, uint64_t index)
{
    struct dp_map *m = DP_JIT_MAP(map);
    if ((uint32_t)index >= m->max_entries || env->tail_call_cnt >= DP_MAX_TAIL_CALLS)
        return NULL;
    env->tail_call_cnt++;
    return (const struct dp_prog *)dp_prog_array_get(m, (uint32_t)index);
}

typedef uint64_t (*dp_jit_unchecked_fn)(struct dp_env *env, uint64_t *regs, int depth);

static __attribute__((noinline, cold)) uint64_t dp_jit_tail_uncompiled(struct dp_env *env, int32_t pc)
{
    snprintf(env->errmsg, sizeof(env->errmsg),
             "helper 12 failed at insn %d: bpf_tail_call target is not JIT-compiled (unchecked mode)", (int)pc);
    env->err_pc = pc;
    env->stop = DP_STOP_ERROR;
    return 0;
}

/* ... and the jump: the target's unchecked entry (dp_jit_link.h publishes
 * it on the dp_prog) continues in this frame with these registers. */
DP_INLINE uint64_t dp_jit_tail_go(struct dp_env *env, const struct dp_prog *target, uint64_t *regs, int depth,
                                  int32_t pc)
{
    dp_jit_unchecked_fn entry = (dp_jit_unchecked_fn)__atomic_load_n(&target->jit_entry[0], __ATOMIC_ACQUIRE);
    if (DP_UNLIKELY(!entry))
        return dp_jit_tail_uncompiled(env, pc);
    env->tail_target = target;
    env->cur_prog = target;
    return entry(env, regs, depth);
}

#endif /* DP_JIT_HELPERS_H */
