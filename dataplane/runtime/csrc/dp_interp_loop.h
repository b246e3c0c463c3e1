/*
 * The dispatch loop, as a template: dp_interp.c includes this file twice,
 * once plain and once with DP_LOOP_COUNTING = 1 (instruction counter and
 * optional budget). The fast variant therefore pays nothing for counting.
 *
 * Parameters: DP_LOOP_NAME (function name), DP_LOOP_COUNTING (0/1).
 * Every handler is generated from the X-macro lists of dp_prog.h and uses
 * the semantics of bpf_semantics.h.
 */

/* start: first insn; args: r1-r5; frame_top: r10 of the first frame (the
 * top of the stack for a run, below the caller's frame for a callback). */
static int DP_LOOP_NAME(const struct dp_prog *prog, struct dp_env *env, uint32_t start, const uint64_t *args,
                        uint64_t frame_top, uint64_t *r0_out)
{
    static const void *const labels[DP_X__count] = {
        [DP_X_invalid] = &&L_invalid,
#define DP_T_ALU(n) [DP_X_##n##64_k] = &&L_##n##64_k, [DP_X_##n##64_x] = &&L_##n##64_x, \
                    [DP_X_##n##32_k] = &&L_##n##32_k, [DP_X_##n##32_x] = &&L_##n##32_x,
        DP_ALU_BINOPS(DP_T_ALU)
        DP_JMP_CONDS(DP_T_ALU)
#undef DP_T_ALU
#define DP_T_UN(n) [DP_X_##n] = &&L_##n,
        DP_UNOPS_DST(DP_T_UN)
        DP_UNOPS_SRC(DP_T_UN)
#undef DP_T_UN
#define DP_T_LD(n, sz) [DP_X_ldx_##n] = &&L_ldx_##n,
        DP_LOADS(DP_T_LD)
#undef DP_T_LD
#define DP_T_ST(n, sz) [DP_X_st_##n] = &&L_st_##n, [DP_X_stx_##n] = &&L_stx_##n,
        DP_STORES(DP_T_ST)
#undef DP_T_ST
#define DP_T_AT(n, sz) [DP_X_atomic_##n] = &&L_atomic_##n, [DP_X_fetch_##n] = &&L_fetch_##n,
        DP_ATOMIC_RMW(DP_T_AT)
#undef DP_T_AT
        [DP_X_xchg32] = &&L_xchg32, [DP_X_xchg64] = &&L_xchg64,
        [DP_X_cmpxchg32] = &&L_cmpxchg32, [DP_X_cmpxchg64] = &&L_cmpxchg64,
#define DP_T_PKT(sz) [DP_X_ldabs##sz] = &&L_ldabs##sz, [DP_X_ldind##sz] = &&L_ldind##sz,
        DP_PKT_SIZES(DP_T_PKT)
#undef DP_T_PKT
        [DP_X_lddw] = &&L_lddw,
        [DP_X_ja] = &&L_ja,
        [DP_X_call_helper] = &&L_call_helper,
        [DP_X_callx] = &&L_callx,
        [DP_X_call_local] = &&L_call_local,
        [DP_X_call_kfunc] = &&L_call_kfunc,
        [DP_X_exit] = &&L_exit,
    };
    const struct dp_xinsn *base = prog->insns;  /* changes on a tail call */
    const struct dp_xinsn *pc = base + start;
    const uint64_t stack_bottom = (uint64_t)(uintptr_t)env->stack;
    uint64_t r[11] = {0};
    struct dp_frame frames[DP_MAX_CALL_FRAMES];
    int depth = 0;
    uint64_t hid = 0;                        /* id of the helper/kfunc being called */
    const char *callkind = "helper";
    uint64_t ea = 0;                         /* failing access: address, size, rights */
    uint32_t esz = 0, eneed = 0;
    uint32_t poff;                           /* LD_ABS/LD_IND packet offset */
    void *p;
#if DP_LOOP_COUNTING
    /* instructions since the last flush into env (dp_budget.h) */
    uint64_t count = 0;
#define DP_COUNT() (++count)
#define DP_FLUSH_COUNT() do { env->insn_count += count; env->run_insns += count; count = 0; } while (0)
#define DP_CHECKPOINT() do { if (dp_budget_spent(env, env->run_insns + count)) goto fail_budget; } while (0)
#else
#define DP_COUNT() do { } while (0)
#define DP_FLUSH_COUNT() ((void)0)
#define DP_CHECKPOINT() do { } while (0)
#endif
/* a jump to insn t from pc: backward ones are budget checkpoints */
#define DP_JUMP(t) do { uint32_t t_ = (t); if (DP_LOOP_COUNTING && t_ <= (uint32_t)(pc - base)) DP_CHECKPOINT(); \
                        pc = base + t_; } while (0)
#define DISPATCH() do { DP_COUNT(); goto *labels[pc->op]; } while (0)
#define NEXT() do { pc++; DISPATCH(); } while (0)
#define D r[pc->dst]
#define S r[pc->src]
#define K ((uint64_t)pc->imm)
/* Stack (active frames) first, then the input memory, then the region list.
 * The unsigned subtractions fold "addr >= lo" into the range test. */
#define ACCESS(addr, size, need, mlen)                                                          \
    ({                                                                                          \
        uint64_t a_ = (addr);                                                                   \
        void *p_ = (void *)(uintptr_t)a_;                                                       \
        if (DP_LIKELY(a_ - env->stack_lo <= env->stack_top - env->stack_lo - (size))) {         \
        } else if (DP_LIKELY(a_ - env->mem_lo < env->mlen && (size) <= env->mlen - (a_ - env->mem_lo))) { \
        } else if (!(p_ = dp_env_find(env, a_, (size), (need)))) {                               \
            ea = a_; esz = (size); eneed = (need);                                              \
            if (a_ - env->ctx_lo < env->ctx_len)                                                \
                goto ctx_access;                                                                \
            goto fail_mem;                                                                      \
        }                                                                                       \
        p_;                                                                                     \
    })
#define EA_DST ((uint64_t)(D + (uint64_t)(int64_t)pc->off))
#define EA_SRC ((uint64_t)(S + (uint64_t)(int64_t)pc->off))

    r[1] = args[0];
    r[2] = args[1];
    r[3] = args[2];
    r[4] = args[3];
    r[5] = args[4];
    r[10] = frame_top;
    env->stack_lo = frame_top - DP_STACK_SIZE;
    DISPATCH();

#define DP_H_ALU(n)                                                    \
    L_##n##64_k: D = dp_##n##64(D, K); NEXT();                         \
    L_##n##64_x: D = dp_##n##64(D, S); NEXT();                         \
    L_##n##32_k: D = dp_##n##32(D, K); NEXT();                         \
    L_##n##32_x: D = dp_##n##32(D, S); NEXT();
    DP_ALU_BINOPS(DP_H_ALU)
#undef DP_H_ALU

#define DP_H_UND(n) L_##n: D = dp_##n(D); NEXT();
    DP_UNOPS_DST(DP_H_UND)
#undef DP_H_UND
#define DP_H_UNS(n) L_##n: D = dp_##n(S); NEXT();
    DP_UNOPS_SRC(DP_H_UNS)
#undef DP_H_UNS

#define DP_H_JMP(n)                                                                  \
    L_##n##64_k: if (dp_##n##64(D, K)) DP_JUMP(pc->off); else pc++; DISPATCH();     \
    L_##n##64_x: if (dp_##n##64(D, S)) DP_JUMP(pc->off); else pc++; DISPATCH();     \
    L_##n##32_k: if (dp_##n##32(D, K)) DP_JUMP(pc->off); else pc++; DISPATCH();     \
    L_##n##32_x: if (dp_##n##32(D, S)) DP_JUMP(pc->off); else pc++; DISPATCH();
    DP_JMP_CONDS(DP_H_JMP)
#undef DP_H_JMP

L_ja:
    DP_JUMP(pc->off);
    DISPATCH();

L_lddw:
    D = K;
    pc += 2;
    DISPATCH();

#define DP_H_LD(n, sz) \
    L_ldx_##n: p = ACCESS(EA_SRC, sz, DP_REGION_READ, mem_len); D = dp_##n(p); NEXT();
    DP_LOADS(DP_H_LD)
#undef DP_H_LD

#define DP_H_ST(n, sz)                                                                  \
    L_st_##n: p = ACCESS(EA_DST, sz, DP_REGION_WRITE, mem_wlen); dp_##n(p, K); NEXT();  \
    L_stx_##n: p = ACCESS(EA_DST, sz, DP_REGION_WRITE, mem_wlen); dp_##n(p, S); NEXT();
    DP_STORES(DP_H_ST)
#undef DP_H_ST

#define DP_H_AT(n, sz)                                                                             \
    L_atomic_##n: p = ACCESS(EA_DST, sz, DP_REGION_RW, mem_wlen); (void)dp_atomic_##n(p, S); NEXT(); \
    L_fetch_##n: p = ACCESS(EA_DST, sz, DP_REGION_RW, mem_wlen); S = dp_atomic_##n(p, S); NEXT();
    DP_ATOMIC_RMW(DP_H_AT)
#undef DP_H_AT
L_xchg32:
    p = ACCESS(EA_DST, 4, DP_REGION_RW, mem_wlen); S = dp_atomic_xchg32(p, S); NEXT();
L_xchg64:
    p = ACCESS(EA_DST, 8, DP_REGION_RW, mem_wlen); S = dp_atomic_xchg64(p, S); NEXT();
L_cmpxchg32:
    p = ACCESS(EA_DST, 4, DP_REGION_RW, mem_wlen); r[0] = dp_atomic_cmpxchg32(p, r[0], S); NEXT();
L_cmpxchg64:
    p = ACCESS(EA_DST, 8, DP_REGION_RW, mem_wlen); r[0] = dp_atomic_cmpxchg64(p, r[0], S); NEXT();

    /* Legacy packet loads from env->pkt (bpf_semantics.h: dp_pkt_in/dp_pkt_load*);
     * outside the packet the whole program ends with r0 = 0, as the kernel's LD_ABS. */
#define DP_H_PKT(sz)                                                                          \
    L_ldabs##sz: poff = (uint32_t)pc->imm; goto pkt##sz;                                       \
    L_ldind##sz: poff = (uint32_t)pc->imm + (uint32_t)S;                                       \
    pkt##sz:                                                                                  \
        if (!dp_pkt_in(poff, sz, env->pkt_len)) { r[0] = 0; goto done; }                     \
        r[0] = dp_pkt_load##sz(env->pkt + poff);                                              \
        NEXT();
    DP_PKT_SIZES(DP_H_PKT)
#undef DP_H_PKT

L_call_helper:
    hid = (uint32_t)pc->imm;
    goto do_helper;
L_callx:
    hid = D;
do_helper:
    DP_CHECKPOINT();
    if (DP_UNLIKELY(hid >= env->nhelpers || env->helpers[hid] == NULL))
        goto fail_helper;
    DP_FLUSH_COUNT();          /* callbacks the helper runs count on from here */
    env->cur_pc = (int32_t)(pc - base);
    r[0] = env->helpers[hid](env, r[1], r[2], r[3], r[4], r[5]);
    if (DP_UNLIKELY(env->stop != DP_STOP_NONE))
        goto stopped;
    NEXT();

L_call_kfunc:
    hid = (uint32_t)pc->imm;
    callkind = "kfunc";
    DP_CHECKPOINT();
    if (DP_UNLIKELY(hid >= env->nkfuncs || env->kfuncs[hid] == NULL))
        goto fail_kfunc;
    DP_FLUSH_COUNT();
    env->cur_pc = (int32_t)(pc - base);
    r[0] = env->kfuncs[hid](env, r[1], r[2], r[3], r[4], r[5]);
    if (DP_UNLIKELY(env->stop != DP_STOP_NONE))
        goto stopped;
    callkind = "helper";
    NEXT();

    /* bpf-to-bpf call: the callee gets r1-r5 as they are, a fresh zeroed
     * frame below the caller's and r10 at its top; r6-r9 and r10 come back
     * on exit. */
L_call_local:
    DP_CHECKPOINT();
    if (DP_UNLIKELY(depth + 1 >= DP_MAX_CALL_FRAMES ||
                    frame_top - stack_bottom < (uint64_t)(depth + 2) * DP_STACK_SIZE))
        goto fail_depth;
    frames[depth].ret = pc + 1;
    frames[depth].base = base;
    frames[depth].r6 = r[6];
    frames[depth].r7 = r[7];
    frames[depth].r8 = r[8];
    frames[depth].r9 = r[9];
    frames[depth].r10 = r[10];
    depth++;
    r[10] = frame_top - (uint64_t)depth * DP_STACK_SIZE;
    env->stack_lo = r[10] - DP_STACK_SIZE;
    memset((void *)(uintptr_t)env->stack_lo, 0, DP_STACK_SIZE);
    pc = base + pc->off;
    DISPATCH();

L_exit:
    if (depth == 0)
        goto done;
    depth--;
    r[6] = frames[depth].r6;
    r[7] = frames[depth].r7;
    r[8] = frames[depth].r8;
    r[9] = frames[depth].r9;
    r[10] = frames[depth].r10;
    env->stack_lo = frame_top - (uint64_t)(depth + 1) * DP_STACK_SIZE;
    base = frames[depth].base;
    pc = frames[depth].ret;
    DISPATCH();

done:
    DP_FLUSH_COUNT();
    *r0_out = r[0];
    return 0;

    /* A ctx load (struct xdp_md ...): the hook computes the value, as the
     * kernel's convert_ctx_access would have compiled it. Stores and
     * sign-extending loads are not allowed on any ctx field we model. */
ctx_access:
    if (eneed == DP_REGION_READ && pc->op >= DP_X_ldx_ld8 && pc->op <= DP_X_ldx_ld64 && env->ctx_load) {
        if (env->ctx_load(env, (uint32_t)(ea - env->ctx_lo), esz, &r[pc->dst]) == 0)
            NEXT();
    } else {
        snprintf(env->errmsg, sizeof(env->errmsg), "invalid bpf_context access off=%u size=%u",
                 (unsigned)(ea - env->ctx_lo), (unsigned)esz);
    }
    {
        char why[DP_ERRMSG_LEN];
        memcpy(why, env->errmsg, sizeof(why));
        why[sizeof(why) - 1] = 0;
        snprintf(env->errmsg, sizeof(env->errmsg), "%.200s at insn %d", why, (int)(pc - base));
    }
    goto fail;

stopped:
    if (env->stop == DP_STOP_EXIT)
        goto done;
    if (env->stop == DP_STOP_TAIL) {
        /* bpf_tail_call: continue at the start of the target with the
         * same ctx (r1, untouched by the helper) and the same frame. */
        env->stop = DP_STOP_NONE;
        env->cur_prog = env->tail_target;
        base = env->tail_target->insns;
        pc = base;
        callkind = "helper";
        DISPATCH();
    }
    {
        char why[DP_ERRMSG_LEN];
        memcpy(why, env->errmsg, sizeof(why));
        why[sizeof(why) - 1] = 0;
        snprintf(env->errmsg, sizeof(env->errmsg), "%s %llu failed at insn %d: %.200s", callkind,
                 (unsigned long long)hid, (int)(pc - base), why[0] ? why : "stopped");
    }
    goto fail;
fail_mem:
    dp_format_mem_error(env, (int32_t)(pc - base), ea, esz, eneed);
    goto fail;
fail_helper:
    snprintf(env->errmsg, sizeof(env->errmsg), "call to unknown helper %llu at insn %d",
             (unsigned long long)hid, (int)(pc - base));
    goto fail;
fail_kfunc:
    snprintf(env->errmsg, sizeof(env->errmsg), "call to unknown kfunc %llu at insn %d",
             (unsigned long long)hid, (int)(pc - base));
    goto fail;
fail_depth:
    snprintf(env->errmsg, sizeof(env->errmsg), "call at insn %d exceeds the maximum call depth of %d frames",
             (int)(pc - base), DP_MAX_CALL_FRAMES);
    goto fail;
#if DP_LOOP_COUNTING
fail_budget:
    count--;  /* the instruction at pc did not run */
    DP_FLUSH_COUNT();
    dp_budget_fail(env, (int32_t)(pc - base));
    return -1;
#endif
L_invalid:
    /* unreachable: the loader rejects jumps into the second half of lddw */
    snprintf(env->errmsg, sizeof(env->errmsg), "executed the second half of lddw at insn %d", (int)(pc - base));
fail:
    DP_FLUSH_COUNT();
    env->err_pc = (int32_t)(pc - base);
    return -1;

#undef DP_COUNT
#undef DP_FLUSH_COUNT
#undef DP_CHECKPOINT
#undef DP_JUMP
#undef DISPATCH
#undef NEXT
#undef D
#undef S
#undef K
#undef ACCESS
#undef EA_DST
#undef EA_SRC
}
