/*
 * dp_chain.h - run an ordered chain of XDP programs over a packet batch.
 *
 * One call per batch, no Python and no GIL inside. Semantics are the
 * kernel's multi-program XDP (libxdp dispatcher, bpf_mprog): each packet
 * goes through the programs in order; by default XDP_PASS continues with the
 * next program, any other verdict ends the chain and is the packet's verdict;
 * all-PASS gives XDP_PASS. Programs see and keep each other's packet
 * changes because they share the frame (data/data_end/data_meta move in
 * place, as adjust_head/tail/meta do in the kernel).
 *
 * The loop is program-major (program k over every packet still in the
 * chain, then program k+1): per packet the order of programs is the same as
 * packet-major, but each program's code stays hot in the i-cache and its run
 * time is measured with two clock reads per batch instead of two per packet.
 * Packets are independent except through maps; the kernel gives no ordering
 * between packets of a batch either (NAPI runs them, RSS spreads them).
 *
 * Proceed-on (libxdp's chain_call_actions): each entry has a set of
 * verdicts, as a bit mask, on which the packet goes on to the next program;
 * the default is {XDP_PASS}. A verdict outside the set ends the chain and is
 * the packet's; a packet that leaves the last program still proceeding has
 * that program's verdict (XDP_PASS for an all-PASS chain).
 *
 * Each entry owns its struct dp_env (stack, regions, helper tables) and its
 * struct dp_rt (helper state: maps, redirect target), so a chain never
 * shares mutable execution state with the Interpreter objects it was built
 * from (e.g. a `prog run` from the control plane at the same time). A chain
 * is immutable once built; its mutex makes two workers running the same
 * chain take turns per batch.
 */
#ifndef DP_CHAIN_H
#define DP_CHAIN_H

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "dp_budget.h"
#include "dp_env.h"
#include "dp_frame.h"
#include "dp_helpers.h"
#include "dp_interp.h"

#define DP_NVERDICTS 5          /* XDP_ABORTED .. XDP_REDIRECT */
#define DP_V_ABORTED 0u
#define DP_V_PASS 2u
#define DP_V_REDIRECT 4u

#define DP_ENGINE_INTERP 0
#define DP_ENGINE_JIT 1

/* Counters of one attachment (or of a hook's chain verdicts). Written by
 * the worker once per batch with relaxed atomic adds, read at any time by
 * the control plane / metrics (aligned u64 loads never tear on x86-64). */
struct dp_prog_stats {
    uint64_t packets[DP_NVERDICTS];
    uint64_t bytes[DP_NVERDICTS];
    uint64_t runs;      /* program executions */
    uint64_t run_ns;    /* CLOCK_MONOTONIC time spent running the program */
    uint64_t errors;    /* runs that faulted (verdict XDP_ABORTED) */
    uint64_t invalid;   /* verdicts outside 0..4 (made XDP_ABORTED) */
    uint64_t budget;    /* faulted runs stopped by the instruction budget (unverified programs, dp_budget.h) */
};

/* The JIT's run entry: dp_jit_run of the engine module (same signature),
 * so tail calls and callbacks see the run's mode the engine set. */
typedef int (*dp_chain_jit_run_fn)(void *fn, int checked, const struct dp_prog *prog, struct dp_env *env,
                                   uint64_t r1, uint64_t r2, uint64_t *r0);

struct dp_chain_entry {
    int engine;                   /* DP_ENGINE_* */
    int checked;                  /* JIT mode */
    const struct dp_prog *prog;   /* decoded program (interpreter, tail-call identity) */
    void *jit_fn;                 /* dp_jit_fn of the compiled .so */
    dp_chain_jit_run_fn jit_run;
    struct dp_env env;
    struct dp_rt rt;
    struct dp_prog_stats *stats;  /* owned by the attachment, outlives chains */
    uint32_t proceed;             /* verdicts (1u << v) on which the next program runs */
    char last_error[DP_ERRMSG_LEN];
};

struct dp_chain {
    uint32_t n;
    struct dp_chain_entry *e;
    uint32_t ingress_ifindex;     /* ctx->ingress_ifindex */
    dp_ctx_load_fn xdp_ctx_load;  /* the helpers module's dp_xdp_ctx_load (adjust_* check it) */
    struct dp_prog_stats *totals; /* chain verdicts, owned by the hook */
    uint32_t *live;               /* scratch, 2 x live_cap: frames still in the chain, then each
                                     frame's length before the run (in_bytes of decided frames) */
    uint32_t live_cap;
    /* per-CPU maps read the calling thread's CPU slot: set to each entry's
     * own runner CPU before it runs (maps.core set_current_cpu) */
    void (*set_cpu)(uint32_t cpu);
    pthread_mutex_t lock;
};

/* dp_frame.verdict flag of a frame the chain left without a verdict: the
 * batch was cancelled before the packet's last program decided (see
 * dp_chain_run). Not counted anywhere, handed to no sink; the source gets
 * it back as any other frame. */
#define DP_FRAME_UNDECIDED 0x40000000u

/* What one batch produced (for the replay's own summary). */
struct dp_chain_result {
    uint64_t packets[DP_NVERDICTS];
    uint64_t bytes[DP_NVERDICTS];
    uint64_t in_bytes;
};

static inline uint64_t dp_chain_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void dp_chain_add(uint64_t *dst, uint64_t v)
{
    if (v)
        __atomic_fetch_add(dst, v, __ATOMIC_RELAXED);
}

/* Where an XDP_REDIRECT sends the frame, as frame.reserved: the ifindex of
 * bpf_redirect; for bpf_redirect_map the target's ifindex when the map is
 * a DEVMAP/DEVMAP_HASH (its value starts with the ifindex, struct
 * bpf_devmap_val), else (XSKMAP, CPUMAP, a broadcast) the key. */
static inline uint32_t dp_chain_redirect_target(struct dp_rt *rt)
{
    if (rt->redirect_kind == DP_REDIRECT_MAP && rt->redirect_map &&
        (rt->redirect_map->map_type == DP_MAP_DEVMAP || rt->redirect_map->map_type == DP_MAP_DEVMAP_HASH) &&
        !(rt->redirect_flags & (1ull << 3) /* BPF_F_BROADCAST */)) {
        uint32_t key = rt->redirect_index, ifindex;
        const void *val = dp_map_lookup_elem(rt->redirect_map, &key);
        if (val) {
            memcpy(&ifindex, val, sizeof(ifindex));
            return ifindex;
        }
    }
    return rt->redirect_index;
}

/* One program on one packet: 0 and *r0, or -1 (fault, message in env). */
static inline int dp_chain_run_one(struct dp_chain_entry *e, struct dp_xdp_buff *x, uint64_t *r0)
{
    dp_xdp_sync(&e->env, x);
    if (e->engine == DP_ENGINE_JIT)
        return e->jit_run(e->jit_fn, e->checked, e->prog, &e->env, (uint64_t)(uintptr_t)x, 0, r0);
    return dp_run(e->prog, &e->env, (uint64_t)(uintptr_t)x, 0, r0);
}

/* Leave the frames live[0..n) without a verdict (DP_FRAME_UNDECIDED). */
static inline void dp_chain_undecide(struct dp_batch *b, const uint32_t *live, uint32_t n)
{
    uint32_t i;
    for (i = 0; i < n; i++)
        b->frames[live[i]].verdict = DP_FRAME_UNDECIDED | 1u /* XDP_DROP, for a source that looks */;
}

/* Run the chain over b->frames[0..count): sets each frame's data pointers
 * and verdict; for XDP_REDIRECT, frame.reserved = the redirect target
 * (dp_chain_redirect_target: an ifindex, or the map key of an XSKMAP/CPUMAP
 * redirect). Returns the packets given a verdict: b->count, unless
 * `cancel` (the source's cancel flag, or NULL) was set during the batch.
 *
 * A cancel is seen before each run and, inside an unverified program's run,
 * at its budget checkpoints (env->cancel, dp_budget.h) -- so a stop never
 * waits for a long run or the rest of a large batch. The run in progress is
 * abandoned (not counted as a run, no verdict); every packet whose verdict
 * was already final (it left the chain, or went through its last program)
 * keeps it and is counted as usual; the others are DP_FRAME_UNDECIDED and
 * counted nowhere (chain verdicts, in_bytes, the return value), so the
 * packets counted are exactly the packets decided. The runs that did finish
 * stay in each program's counters (they ran, and their map updates stay).
 * Caller holds c->lock and has sized c->live for b->count. */
static uint32_t dp_chain_run(struct dp_chain *c, struct dp_batch *b, struct dp_chain_result *res,
                             const volatile int *cancel)
{
    uint32_t i, k, nlive = b->count, nnext, decided = b->count;
    uint32_t *len0 = c->live + c->live_cap;
    struct dp_xdp_buff x;
    uint64_t pk[DP_NVERDICTS], by[DP_NVERDICTS];
    int cut = 0;

    memset(&x, 0, sizeof(x));
    x.ingress_ifindex = c->ingress_ifindex;
    for (i = 0; i < b->count; i++) {
        c->live[i] = i;
        b->frames[i].verdict = DP_V_PASS;
        len0[i] = dp_frame_len(&b->frames[i]);
    }
    for (k = 0; k < c->n && nlive && !cut; k++) {
        struct dp_chain_entry *e = &c->e[k];
        uint64_t errors = 0, invalid = 0, budget = 0, t0;
        memset(pk, 0, sizeof(pk));
        memset(by, 0, sizeof(by));
        e->env.user = &e->rt;
        e->env.ctx = &x;
        e->env.ctx_lo = (uint64_t)(uintptr_t)&x;
        e->env.ctx_len = 24;      /* sizeof(struct xdp_md) */
        e->env.ctx_load = c->xdp_ctx_load;
        e->env.cancel = cancel;
        if (c->set_cpu)
            c->set_cpu(e->rt.cpu);
        nnext = 0;
        t0 = dp_chain_now();
        for (i = 0; i < nlive; i++) {
            struct dp_frame *f = &b->frames[c->live[i]];
            uint64_t r0 = 0;
            uint32_t v;
            int rc;
            if (__builtin_expect(cancel != NULL && *cancel != 0, 0)) {
                cut = 1;          /* between two runs: the rest of a large batch waits for nothing */
                break;
            }
            x.data = f->data;
            x.data_end = f->data_end;
            x.data_meta = f->data_meta;
            x.hard_start = f->hard_start;
            x.frame_sz = f->frame_sz;
            x.rx_queue_index = f->rx_queue;
            /* a source may set the frame's ingress (pcapng interfaces); 0: the hook's */
            x.ingress_ifindex = f->ifindex ? f->ifindex : c->ingress_ifindex;
            x.egress_ifindex = 0;
            e->rt.redirect_kind = DP_REDIRECT_NONE;
            rc = dp_chain_run_one(e, &x, &r0);
            if (__builtin_expect(e->rt.lock_held != NULL, 0)) {
                /* a faulting program may leave a bpf_spin_lock taken */
                *(volatile uint32_t *)e->rt.lock_held = 0;
                e->rt.lock_held = NULL;
            }
            if (__builtin_expect(e->rt.nsk_held != 0, 0))
                dp_rt_put_socks(&e->rt);   /* sockets a faulting/unverified program held */
            if (__builtin_expect(rc != 0, 0)) {
                if (e->env.budget_hit == DP_BUDGET_CANCELLED) {
                    cut = 1;      /* abandoned inside the run: this packet has no verdict */
                    break;
                }
                if (!errors)
                    memcpy(e->last_error, e->env.errmsg, DP_ERRMSG_LEN);
                errors++;
                budget += (uint64_t)(e->env.budget_hit == DP_BUDGET_SPENT);
                v = DP_V_ABORTED;
            } else {
                v = (uint32_t)r0;
                if (__builtin_expect((uint64_t)(uint32_t)r0 != r0 || v >= DP_NVERDICTS, 0)) {
                    invalid++;    /* bpf_warn_invalid_xdp_action: handled as aborted */
                    v = DP_V_ABORTED;
                }
            }
            f->data = x.data;
            f->data_end = x.data_end;
            f->data_meta = x.data_meta;
            pk[v]++;
            by[v] += (uint64_t)(x.data_end - x.data);
            f->verdict = v;
            if (v == DP_V_REDIRECT)
                f->reserved = dp_chain_redirect_target(&e->rt);
            if (e->proceed & (1u << v))
                c->live[nnext++] = c->live[i];
        }
        dp_chain_add(&e->stats->run_ns, dp_chain_now() - t0);
        dp_chain_add(&e->stats->runs, i);         /* the runs that finished */
        dp_chain_add(&e->stats->errors, errors);
        dp_chain_add(&e->stats->invalid, invalid);
        dp_chain_add(&e->stats->budget, budget);
        for (uint32_t j = 0; j < DP_NVERDICTS; j++) {
            dp_chain_add(&e->stats->packets[j], pk[j]);
            dp_chain_add(&e->stats->bytes[j], by[j]);
        }
        e->env.cancel = NULL;
        e->env.ctx = NULL;
        e->env.ctx_len = 0;
        e->env.mem_len = e->env.mem_wlen = 0;
        if (cut) {
            /* undecided: the packets this program had not finished with
             * (live[i..nlive), the abandoned run's included), and those it
             * passed on to a next program (live[0..nnext); the last
             * program's are final) */
            dp_chain_undecide(b, c->live + i, nlive - i);
            decided -= nlive - i;
            if (k + 1 < c->n) {
                dp_chain_undecide(b, c->live, nnext);
                decided -= nnext;
            }
        }
        nlive = nnext;
    }
    /* chain verdicts */
    memset(pk, 0, sizeof(pk));
    memset(by, 0, sizeof(by));
    for (i = 0; i < b->count; i++) {
        struct dp_frame *f = &b->frames[i];
        if (__builtin_expect(f->verdict & DP_FRAME_UNDECIDED, 0))
            continue;
        pk[f->verdict]++;
        by[f->verdict] += dp_frame_len(f);
        res->in_bytes += len0[i];
    }
    for (i = 0; i < DP_NVERDICTS; i++) {
        res->packets[i] += pk[i];
        res->bytes[i] += by[i];
        if (c->totals) {
            dp_chain_add(&c->totals->packets[i], pk[i]);
            dp_chain_add(&c->totals->bytes[i], by[i]);
        }
    }
    if (c->totals)
        dp_chain_add(&c->totals->runs, decided);
    return decided;
}

#endif /* DP_CHAIN_H */
