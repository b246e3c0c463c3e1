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
    uint32_t *live;               /* scratch for live_cap frames (dp_chain_scratch_size; one
                                     allocation, freed through this pointer): frames still in the
                                     chain, then the rest dp_chain_run carves out of it */
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

/* The scratch of a chain of n programs for batches of up to cap frames, as
 * dp_chain_run lays it out: live[cap], len0[cap] (each frame's length before
 * the chain), then per program k and frame f what its run gave -- rlen[n*cap]
 * (bytes after it), rflag[n*cap] (DP_RUN_* below) -- and the per-program
 * counts of the batch, pend[n], committed at its end. */
static inline size_t dp_chain_scratch_size(uint32_t n, uint32_t cap)
{
    size_t words = ((size_t)(2 + n) * cap + 1) & ~(size_t)1;      /* pend 8-byte aligned */
    return words * 4 + (size_t)n * sizeof(struct dp_prog_stats) + (size_t)n * cap;
}

/* rflag: the verdict in the low 3 bits, and what the run was */
#define DP_RUN_ERROR 0x08u
#define DP_RUN_INVALID 0x10u
#define DP_RUN_BUDGET 0x20u

/* Leave frame fi without a verdict (DP_FRAME_UNDECIDED) and take the runs
 * of programs 0..reach-1 it went through out of the batch's counts. */
static inline void dp_chain_undecide(struct dp_batch *b, uint32_t fi, uint32_t reach, uint32_t cap,
                                     struct dp_prog_stats *pend, const uint32_t *rlen, const uint8_t *rflag)
{
    uint32_t j;
    for (j = 0; j < reach; j++) {
        uint8_t fl = rflag[(size_t)j * cap + fi];
        uint32_t v = fl & 7u;
        pend[j].runs--;
        pend[j].packets[v]--;
        pend[j].bytes[v] -= rlen[(size_t)j * cap + fi];
        pend[j].errors -= (fl & DP_RUN_ERROR) != 0;
        pend[j].invalid -= (fl & DP_RUN_INVALID) != 0;
        pend[j].budget -= (fl & DP_RUN_BUDGET) != 0;
    }
    b->frames[fi].verdict = DP_FRAME_UNDECIDED | 1u /* XDP_DROP, for a source that looks */;
}

/* Run the chain over b->frames[0..count): sets each frame's data pointers
 * and verdict; for XDP_REDIRECT, frame.reserved = the redirect target
 * (dp_chain_redirect_target: an ifindex, or the map key of an XSKMAP/CPUMAP
 * redirect). Returns the packets given a verdict: b->count, unless
 * `cancel` (the source's cancel flag, or NULL) was set during the batch.
 *
 * A cancel is seen before each run and, inside an unverified program's run,
 * at its budget checkpoints (env->cancel, dp_budget.h) -- so a stop never
 * waits for a long run or the rest of a large batch. The batch is then cut
 * to the packets whose verdict was already final (they left the chain, or
 * went through its last program): they are counted as usual; the others --
 * the abandoned run's packet, those after it, those a later program had
 * still to see -- are DP_FRAME_UNDECIDED and counted nowhere: not in the
 * chain's verdicts, in_bytes or the return value, nor in any program's
 * counters (the batch's per-program counts are kept aside, per run, and
 * committed at its end without the runs of undecided packets). So every
 * counter counts exactly the packets decided, as if the others never came;
 * what the abandoned runs did to maps stays (and run_ns has their time).
 * Caller holds c->lock and has sized the scratch for b->count. */
static uint32_t dp_chain_run(struct dp_chain *c, struct dp_batch *b, struct dp_chain_result *res,
                             const volatile int *cancel)
{
    uint32_t i, j, k, nlive = b->count, nnext, decided = b->count, cap = c->live_cap;
    uint32_t *len0 = c->live + cap;
    uint32_t *rlen = len0 + cap;
    struct dp_prog_stats *pend =
        (struct dp_prog_stats *)(void *)(c->live + (((size_t)(2 + c->n) * cap + 1) & ~(size_t)1));
    uint8_t *rflag = (uint8_t *)(pend + c->n);
    struct dp_xdp_buff x;
    uint64_t pk[DP_NVERDICTS], by[DP_NVERDICTS];
    int cut = 0;

    memset(&x, 0, sizeof(x));
    memset(pend, 0, (size_t)c->n * sizeof(*pend));
    x.ingress_ifindex = c->ingress_ifindex;
    for (i = 0; i < b->count; i++) {
        c->live[i] = i;
        b->frames[i].verdict = DP_V_PASS;
        len0[i] = dp_frame_len(&b->frames[i]);
    }
    for (k = 0; k < c->n && nlive && !cut; k++) {
        struct dp_chain_entry *e = &c->e[k];
        struct dp_prog_stats *ps = &pend[k];
        uint32_t *rl = rlen + (size_t)k * cap;
        uint8_t *rf = rflag + (size_t)k * cap;
        uint64_t t0;
        int have_error = 0;
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
            uint32_t fi = c->live[i];
            struct dp_frame *f = &b->frames[fi];
            uint64_t r0 = 0;
            uint32_t v, fl = 0;
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
                if (!have_error)
                    memcpy(e->last_error, e->env.errmsg, DP_ERRMSG_LEN);
                have_error = 1;
                fl = DP_RUN_ERROR | (e->env.budget_hit == DP_BUDGET_SPENT ? DP_RUN_BUDGET : 0u);
                v = DP_V_ABORTED;
            } else {
                v = (uint32_t)r0;
                if (__builtin_expect((uint64_t)(uint32_t)r0 != r0 || v >= DP_NVERDICTS, 0)) {
                    fl = DP_RUN_INVALID;  /* bpf_warn_invalid_xdp_action: handled as aborted */
                    v = DP_V_ABORTED;
                }
            }
            f->data = x.data;
            f->data_end = x.data_end;
            f->data_meta = x.data_meta;
            ps->packets[v]++;
            ps->bytes[v] += (uint64_t)(x.data_end - x.data);
            ps->errors += (fl & DP_RUN_ERROR) != 0;
            ps->invalid += (fl & DP_RUN_INVALID) != 0;
            ps->budget += (fl & DP_RUN_BUDGET) != 0;
            rl[fi] = (uint32_t)(x.data_end - x.data);
            rf[fi] = (uint8_t)(v | fl);
            f->verdict = v;
            if (v == DP_V_REDIRECT)
                f->reserved = dp_chain_redirect_target(&e->rt);
            if (e->proceed & (1u << v))
                c->live[nnext++] = fi;
        }
        ps->runs += i;                       /* the runs that finished */
        ps->run_ns += dp_chain_now() - t0;
        e->env.cancel = NULL;
        e->env.ctx = NULL;
        e->env.ctx_len = 0;
        e->env.mem_len = e->env.mem_wlen = 0;
        if (cut) {
            /* undecided: the packets this program had not finished with
             * (live[i..nlive), the abandoned run's included: they went
             * through programs 0..k-1), and those it passed on to a next
             * program (live[0..nnext), through 0..k; the last program's are
             * final) */
            for (j = i; j < nlive; j++)
                dp_chain_undecide(b, c->live[j], k, cap, pend, rlen, rflag);
            decided -= nlive - i;
            if (k + 1 < c->n) {
                for (j = 0; j < nnext; j++)
                    dp_chain_undecide(b, c->live[j], k + 1, cap, pend, rlen, rflag);
                decided -= nnext;
            }
        }
        nlive = nnext;
    }
    /* the batch's per-program counts, without the runs of undecided packets */
    for (k = 0; k < c->n; k++) {
        struct dp_prog_stats *st = c->e[k].stats, *ps = &pend[k];
        dp_chain_add(&st->run_ns, ps->run_ns);
        dp_chain_add(&st->runs, ps->runs);
        dp_chain_add(&st->errors, ps->errors);
        dp_chain_add(&st->invalid, ps->invalid);
        dp_chain_add(&st->budget, ps->budget);
        for (j = 0; j < DP_NVERDICTS; j++) {
            dp_chain_add(&st->packets[j], ps->packets[j]);
            dp_chain_add(&st->bytes[j], ps->bytes[j]);
        }
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
