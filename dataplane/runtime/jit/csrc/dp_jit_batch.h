/*
 * Calling a JIT-compiled program: per-run setup and the batch loop the
 * packet-I/O layer drives without the GIL.
 *
 * The compiled function is `uint64_t dp_jit_main(struct dp_env *, r1, r2)`.
 * A run ends normally, or with env->stop == DP_STOP_ERROR and env->errmsg /
 * env->err_pc describing the fault (checked mode only faults on memory).
 */
#ifndef DP_JIT_BATCH_H
#define DP_JIT_BATCH_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "dp_env.h"
#include "dp_helpers.h"
#include "dp_jit_link.h"

typedef uint64_t (*dp_jit_fn)(struct dp_env *env, uint64_t r1, uint64_t r2);

/* Per-program counters, in native memory so the metrics layer reads them
 * without touching Python per packet. */
struct dp_jit_stats {
    uint64_t runs;      /* programs executed */
    uint64_t errors;    /* runs that faulted (verdict forced to DP_JIT_VERDICT_ERROR) */
    uint64_t ns;        /* wall time inside batches, CLOCK_MONOTONIC */
    uint64_t batches;
};

/* XDP_ABORTED: what a faulting program's packet gets, as in the kernel. */
#define DP_JIT_VERDICT_ERROR 0u

/* Same reset as the interpreter's dp_run_setup: no stop, no stale error,
 * the previous run's dynamic regions dropped, frame 0 zeroed (checked mode
 * keeps frames on env->stack; unchecked frames are C locals). */
static inline void dp_jit_run_setup(struct dp_env *env, int checked, const struct dp_prog *prog)
{
    env->stop = DP_STOP_NONE;
    env->cur_prog = prog;          /* tail calls and callbacks (dp_jit_link.h) */
    env->tail_target = NULL;
    env->tail_call_cnt = 0;
    env->call_sub = dp_jit_call_sub;
    dp_jit_cur_checked = checked;
    env->trusted = !checked;       /* verified code: helpers take pointers as given */
    env->err_pc = -1;
    env->errmsg[0] = 0;
    env->run_insns = 0;            /* the instruction budget (dp_budget.h; checked code only) */
    env->budget_hit = 0;
    env->nregions = env->nfixed;
    env->stack_lo = env->stack_top - DP_STACK_SIZE;
    if (checked)
        memset((void *)(uintptr_t)env->stack_lo, 0, DP_STACK_SIZE);
}

/* One run; 0 and *r0, or -1 with env->errmsg set. */
static inline int dp_jit_run(dp_jit_fn fn, int checked, const struct dp_prog *prog, struct dp_env *env,
                             uint64_t r1, uint64_t r2, uint64_t *r0)
{
    uint64_t v;
    dp_jit_run_setup(env, checked, prog);
    v = fn(env, r1, r2);
    /* Checked runs may be unverified: drop what the program still holds
     * (dp_run_end_fn). Verified code cannot leak, so it skips the hook. */
    if (checked && __builtin_expect(env->run_end != NULL, 0))
        env->run_end(env);
    if (env->stop == DP_STOP_ERROR)
        return -1;
    *r0 = v;
    return 0;
}

static inline uint64_t dp_jit_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Run the program over n buffers: r1 = data[i], r2 = lens[i], the buffer
 * being the (writable) input memory. verdicts[i] = low 32 bits of r0, or
 * DP_JIT_VERDICT_ERROR on a fault. Returns the number of faults. */
static inline uint32_t dp_jit_run_batch(dp_jit_fn fn, int checked, const struct dp_prog *prog, struct dp_env *env, uint8_t *const *data,
                                        const uint32_t *lens, uint32_t n, uint32_t *verdicts,
                                        struct dp_jit_stats *st)
{
    uint64_t t0 = dp_jit_now_ns(), r0;
    uint32_t i, errors = 0;
    for (i = 0; i < n; i++) {
        uint64_t lo = (uint64_t)(uintptr_t)data[i];
        env->mem_lo = lo;
        env->mem_len = env->mem_wlen = lens[i];
        if (__builtin_expect(dp_jit_run(fn, checked, prog, env, lo, lens[i], &r0) != 0, 0)) {
            verdicts[i] = DP_JIT_VERDICT_ERROR;
            errors++;
        } else {
            verdicts[i] = (uint32_t)r0;
        }
    }
    env->mem_lo = env->mem_len = env->mem_wlen = 0;
    st->runs += n;
    st->errors += errors;
    st->batches++;
    st->ns += dp_jit_now_ns() - t0;
    return errors;
}

/* XDP over n frames of DP_XDP_FRAME_SIZE bytes, packet i at frames[i] +
 * DP_XDP_HEADROOM, lens[i] bytes long (the layout of struct dp_frame and
 * of BPF_PROG_TEST_RUN): a fresh struct dp_xdp_buff per frame in `x`, r1 =
 * x (the contract verified code's ctx loads rely on). The caller set
 * env->ctx_load (dp_xdp_ctx_load) and env->user (the runner's dp_rt).
 * verdicts[i] = the XDP action, or DP_JIT_VERDICT_ERROR on a fault. */
static inline uint32_t dp_jit_run_xdp_frames(dp_jit_fn fn, int checked, const struct dp_prog *prog,
                                             struct dp_env *env, uint8_t *const *frames, const uint32_t *lens,
                                             uint32_t n, uint32_t *verdicts, struct dp_jit_stats *st,
                                             struct dp_xdp_buff *x, uint32_t ingress_ifindex)
{
    uint64_t t0 = dp_jit_now_ns(), r0;
    uint32_t i, errors = 0;
    env->ctx = x;
    env->ctx_lo = (uint64_t)(uintptr_t)x;
    env->ctx_len = 24;            /* sizeof(struct xdp_md) */
    for (i = 0; i < n; i++) {
        x->hard_start = frames[i];
        x->data = frames[i] + DP_XDP_HEADROOM;
        x->data_meta = x->data;
        x->data_end = x->data + lens[i];
        x->frame_sz = DP_XDP_FRAME_SIZE;
        x->ingress_ifindex = ingress_ifindex;
        x->rx_queue_index = 0;
        x->frags = NULL;          /* frame slots are linear */
        dp_xdp_sync(env, x);
        if (__builtin_expect(dp_jit_run(fn, checked, prog, env, (uint64_t)(uintptr_t)x, 0, &r0) != 0, 0)) {
            verdicts[i] = DP_JIT_VERDICT_ERROR;
            errors++;
        } else {
            verdicts[i] = (uint32_t)r0;
        }
    }
    env->mem_lo = env->mem_len = env->mem_wlen = 0;
    env->ctx = NULL;
    env->ctx_len = 0;
    st->runs += n;
    st->errors += errors;
    st->batches++;
    st->ns += dp_jit_now_ns() - t0;
    return errors;
}

#endif /* DP_JIT_BATCH_H */
