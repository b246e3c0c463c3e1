/*
 * Per-execution state shared by every engine (interpreter now, JIT later),
 * and by the helpers and kfuncs they call.
 *
 * One struct dp_env belongs to one thread of execution (a worker, or one
 * Interpreter object). It holds what a program may touch besides its
 * registers: the stack, the memory regions it was given, the helper and
 * kfunc tables, the packet for legacy LD_ABS/LD_IND, and the stop/error
 * state helpers use to end a program.
 */
#ifndef DP_ENV_H
#define DP_ENV_H

#include <stddef.h>
#include <stdint.h>

#define DP_STACK_SIZE 512        /* bytes per frame (MAX_BPF_STACK) */
#define DP_MAX_CALL_FRAMES 8     /* main program + 7 nested bpf-to-bpf calls (MAX_CALL_FRAMES) */
#define DP_MAX_REGIONS 4096      /* fixed + per-run dynamic regions */
#define DP_ERRMSG_LEN 256

/* env->stop values. A helper sets one and returns; the engine checks after
 * every helper/kfunc call. */
#define DP_STOP_NONE 0
#define DP_STOP_EXIT 1   /* end the program now; r0 = the helper's return value */
#define DP_STOP_ERROR 2  /* abort: env->errmsg says why (see dp_env_fail) */
#define DP_STOP_TAIL 3   /* bpf_tail_call succeeded: continue in env->tail_target from its start */

/* MAX_TAIL_CALL_CNT in the kernel: a chain of tail calls stops after 33. */
#define DP_MAX_TAIL_CALLS 33

/* region flags */
#define DP_REGION_READ 1
#define DP_REGION_WRITE 2
#define DP_REGION_RW (DP_REGION_READ | DP_REGION_WRITE)

struct dp_env;
struct dp_prog;

/* A context (r1 of a hook) whose fields are not plain memory: the kernel
 * rewrites loads of e.g. xdp_md->data into loads of 64-bit pointers
 * (convert_ctx_access). Without a verifier to rewrite the program, the
 * engine calls this for every load that hits [ctx_lo, ctx_lo + ctx_len):
 * it stores the value in *out and returns 0, or fails (dp_env_fail-style
 * message in env->errmsg) and returns -1. Stores into the ctx always fail. */
typedef int (*dp_ctx_load_fn)(struct dp_env *env, uint32_t off, uint32_t size, uint64_t *out);

/* Re-entry into the engine for helpers that call BPF code (bpf_loop):
 * run the current program from insn `start` as a callee (fresh frame below
 * the deepest active one), r1-r5 as given. 0 and *r0, or -1 with errmsg. */
typedef int (*dp_call_fn)(struct dp_env *env, uint32_t start, uint64_t r1, uint64_t r2,
                          uint64_t r3, uint64_t r4, uint64_t r5, uint64_t *r0);

/* Helpers and kfuncs share one C signature: BPF passes up to five 64-bit
 * arguments in r1-r5 and gets r0 back. */
typedef uint64_t (*dp_helper_fn)(struct dp_env *env, uint64_t r1, uint64_t r2,
                                 uint64_t r3, uint64_t r4, uint64_t r5);

/* Run-end cleanup (dp_env.run_end): called by every engine after each run
 * of a program that is not trusted (interpreter, checked JIT), faulted or
 * not, while the run's dynamic regions are still in place. A kfunc family
 * that hands out references (conntrack entries) registers one on its kfunc
 * table (HelperTable.run_end) to drop what an unverified program still
 * holds at exit -- the verifier forbids that, so trusted runs skip it. The
 * runtime only provides the hook; it knows nothing of what is released. */
typedef void (*dp_run_end_fn)(struct dp_env *env);

struct dp_region {
    uint64_t lo;      /* first byte */
    uint64_t len;     /* bytes */
    uint32_t flags;   /* DP_REGION_* */
    uint32_t kind;    /* free for the registrant (e.g. map id); not interpreted */
};

struct dp_env {
    /* --- memory the program may access (interpreter bounds checks) --- */
    uint8_t *stack;           /* DP_MAX_CALL_FRAMES * DP_STACK_SIZE bytes; frame 0 at the top */
    uint64_t stack_top;       /* one past the last byte: r10 of frame 0 */
    uint64_t stack_lo;        /* lowest byte of the deepest active frame (maintained by the engine) */
    uint64_t mem_lo, mem_len; /* the input memory (r1/r2 or ctx); len 0 when none */
    uint64_t mem_wlen;        /* mem_len if writable, else 0 */
    struct dp_region *regions;
    uint32_t nregions;        /* active regions */
    uint32_t nfixed;          /* regions[0..nfixed) survive across runs; the rest are dropped at run start */
    uint32_t cap_regions;

    /* --- calls --- */
    dp_helper_fn *helpers;    /* indexed by helper id (imm of call src 0, or callx register) */
    uint32_t nhelpers;
    uint32_t nkfuncs;
    dp_helper_fn *kfuncs;     /* indexed by imm of call src 2 (the loader maps BTF ids to indices) */

    /* --- legacy LD_ABS / LD_IND packet --- */
    const uint8_t *pkt;
    uint64_t pkt_len;

    /* --- stop / error state --- */
    int stop;                 /* DP_STOP_* */
    int32_t cur_pc;           /* insn index of the call in progress (for helper messages) */
    int32_t err_pc;           /* insn index where the program failed, -1 if not known */
    char errmsg[DP_ERRMSG_LEN];

    /* --- accounting (only the counting engine variant maintains these) ---
     * The instruction budget of unverified programs (see dp_budget.h):
     * every executed instruction counts, the budget is checked at
     * checkpoints (backward jumps, calls, callback entries) and a run past
     * it ends as a fault with budget_hit set. */
    uint64_t insn_count;      /* cumulative executed instructions */
    uint64_t insn_limit;      /* per run; 0 = unlimited */
    int count_insns;          /* nonzero: run the counting engine variant even without a limit */
    int budget_hit;           /* the last run ended on the budget: DP_BUDGET_SPENT, or on *cancel:
                                 DP_BUDGET_CANCELLED (reset at run start) */
    uint64_t run_insns;       /* instructions of this run flushed so far (callbacks, calls, JIT functions) */

    void *user;               /* owner's pointer for helpers (worker state, maps registry...) */

    /* --- program context (see dp_ctx_load_fn); ctx_len 0 = none --- */
    uint64_t ctx_lo, ctx_len;
    dp_ctx_load_fn ctx_load;
    void *ctx;                /* the hook's object behind the ctx (struct dp_xdp_buff ...) */

    /* --- tail calls and callbacks (maintained by the engine) --- */
    const struct dp_prog *cur_prog;   /* program running now (changes on a tail call) */
    const struct dp_prog *tail_target;/* set by bpf_tail_call with DP_STOP_TAIL */
    uint32_t tail_call_cnt;           /* tail calls taken in this run */
    dp_call_fn call_sub;              /* set by the engine: callback re-entry */

    /* Nonzero while a verified program runs unchecked (JIT): the verifier
     * proved every pointer a helper gets, and the program's stack frames are
     * C locals the region checks cannot see, so helpers take map and memory
     * arguments as given (dp_env_mem, arg_map). */
    int trusted;

    /* See dp_run_end_fn; NULL = nothing to clean up (the common case: one
     * pointer test per run). Set from the kfunc table (env_set_tables). */
    dp_run_end_fn run_end;

    /* Writable window of the ctx: [ctx_wlo, ctx_wlo + ctx_wlen) is plain
     * memory inside the ctx object, read and written directly by the
     * program (struct __sk_buff cb[]: the kernel lets socket filters store
     * there). Checked after the region table (dp_env_find), before the
     * ctx's load hook; ctx_wlen 0 = none. */
    uint64_t ctx_wlo, ctx_wlen;

    /* A stop request from whoever feeds the run (a chain's batch points it
     * at its source's cancel flag for that batch; NULL: none). Read at the
     * budget's checkpoints only (dp_budget.h), so it reaches unverified
     * (checked) code in the middle of a long run: a Replay.Stop or SIGTERM
     * need not wait for a run that has a large budget. Last in the struct so
     * the offsets JIT'd code uses stay put. */
    const volatile int *cancel;
};

/* Lifecycle: allocates the stack and the region array. 0 or -1 (ENOMEM). */
int dp_env_init(struct dp_env *env);
void dp_env_free(struct dp_env *env);

/* Make [ptr, ptr+len) accessible. Before a run it is fixed (persists);
 * during a run (from a helper returning a pointer) it lasts until the next
 * run. Adding a range already covered with the same rights is a no-op.
 * Returns 0, or -1 when the table is full. */
int dp_env_add_region(struct dp_env *env, const void *ptr, uint64_t len, uint32_t flags, uint32_t kind);
/* Mark all regions added so far as fixed. */
void dp_env_fix_regions(struct dp_env *env);
/* Drop every region (fixed ones included). */
void dp_env_clear_regions(struct dp_env *env);

/* For helpers: stop the program with an error message (printf-style).
 * Returns 0 so a helper can write `return dp_env_fail(env, ...);`. */
uint64_t dp_env_fail(struct dp_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For helpers: [addr, addr+size) as a host pointer if the program may
 * access it with `need` rights (stack, input memory or a region), else NULL.
 * size 0 is always fine. */
void *dp_env_mem(struct dp_env *env, uint64_t addr, uint64_t size, uint32_t need);

/* Look up the region holding [addr, addr+size) with the needed rights.
 * Returns a host pointer or NULL. The engines inline the stack and input
 * memory checks and come here only for the dynamic regions: the interpreter
 * through dp_env_find, JIT'd code (which cannot link dp_env.c) inline.
 * Newest region first (a helper's fresh pointer is the likeliest target),
 * then the ctx's writable window (dp_env.ctx_wlo: read and write). */
static inline void *dp_region_find(const struct dp_env *env, uint64_t addr, uint64_t size, uint32_t need)
{
    uint32_t i;
    for (i = env->nregions; i-- > 0;) {
        const struct dp_region *r = &env->regions[i];
        uint64_t o = addr - r->lo;
        if (o < r->len && size <= r->len - o && (r->flags & need) == need)
            return (void *)(uintptr_t)addr;
    }
    if (addr - env->ctx_wlo < env->ctx_wlen && size <= env->ctx_wlen - (addr - env->ctx_wlo))
        return (void *)(uintptr_t)addr;
    return NULL;
}
void *dp_env_find(struct dp_env *env, uint64_t addr, uint64_t size, uint32_t need);

/* The built-in "unwind" helper of the conformance suite (id 5 there): returns
 * r1, and when r1 == 0 ends the program with r0 = 0. */
uint64_t dp_helper_unwind(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

#endif /* DP_ENV_H */
