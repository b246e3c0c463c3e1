/* Scalar range arithmetic of the verifier in C: the same steps as
 * dataplane/verifier/scalar.py, tnum.py and branch.py's refine /
 * branch_taken (which follow the 6.18 kernel), on 64-bit integers.
 *
 * The Python modules are the reference; this is their fast path and
 * tests/test_verifier_bounds_native.py checks the two agree.  Where the
 * Python code relies on integers wider than 64 bits (overflow checks of
 * add/sub/mul), the C code computes in __int128, so results are the same
 * bit for bit.  The 32-bit range fields are kept in 64-bit containers for
 * the same reason.  A step whose Python result would leave the 64-bit
 * range reports VB_PYTHON and the caller falls back to the reference.
 */
#ifndef DP_VERIFIER_BOUNDS_H
#define DP_VERIFIER_BOUNDS_H

#include <stdint.h>

#define VB_M64 0xFFFFFFFFFFFFFFFFULL
#define VB_M32 0xFFFFFFFFULL
#define VB_NOT32 0xFFFFFFFF00000000ULL
#define VB_S64_MIN ((int64_t)0x8000000000000000ULL)
#define VB_S64_MAX ((int64_t)0x7FFFFFFFFFFFFFFFLL)
#define VB_S32_MIN (-2147483648LL)
#define VB_S32_MAX 2147483647LL
#define VB_OK 0
#define VB_PYTHON 1

/* ALU op codes (scalar.alu's names) */
enum { VB_ADD, VB_SUB, VB_MUL, VB_AND, VB_OR, VB_XOR, VB_LSH, VB_RSH, VB_ARSH };
/* jump op codes: the BPF_OP values, and -BPF_JSET for "JSET not taken" */
#define VB_JEQ 0x10
#define VB_JGT 0x20
#define VB_JGE 0x30
#define VB_JSET 0x40
#define VB_JNE 0x50
#define VB_JSGT 0x60
#define VB_JSGE 0x70
#define VB_JLT 0xa0
#define VB_JLE 0xb0
#define VB_JSLT 0xc0
#define VB_JSLE 0xd0

struct vb {
    uint64_t v, m;            /* tnum */
    uint64_t umin, umax;
    int64_t smin, smax;
    int64_t u32min, u32max;   /* 32-bit ranges in 64-bit containers */
    int64_t s32min, s32max;
};

static inline int64_t vb_s32(uint64_t v) { return (int64_t)(int32_t)(uint32_t)v; }
static inline int64_t vb_s64(uint64_t v) { return (int64_t)v; }
static inline int64_t vb_max(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t vb_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline uint64_t vb_umax(uint64_t a, uint64_t b) { return a > b ? a : b; }
static inline uint64_t vb_umin(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* ------------------------------------------------------------------ tnum */
static inline void tn_add(uint64_t av, uint64_t am, uint64_t bv, uint64_t bm, uint64_t *v, uint64_t *m)
{
    uint64_t sm = am + bm, sv = av + bv, sigma = sm + sv, chi = sigma ^ sv, mu = chi | am | bm;
    *v = sv & ~mu;
    *m = mu;
}

static inline void tn_sub(uint64_t av, uint64_t am, uint64_t bv, uint64_t bm, uint64_t *v, uint64_t *m)
{
    uint64_t dv = av - bv, alpha = dv + am, beta = dv - bm, chi = alpha ^ beta, mu = chi | am | bm;
    *v = dv & ~mu;
    *m = mu;
}

static inline void tn_mul(uint64_t av, uint64_t am, uint64_t bv, uint64_t bm, uint64_t *v, uint64_t *m)
{
    uint64_t acc_v = av * bv, accv = 0, accm = 0, tv = bv, tm = bm;
    while (av || am) {
        if (av & 1)
            tn_add(accv, accm, 0, tm, &accv, &accm);
        else if (am & 1)
            tn_add(accv, accm, 0, tv | tm, &accv, &accm);
        av >>= 1;
        am >>= 1;
        tv <<= 1;
        tm <<= 1;
    }
    tn_add(acc_v, 0, accv, accm, v, m);
}

static inline void tn_intersect(uint64_t av, uint64_t am, uint64_t bv, uint64_t bm, uint64_t *v, uint64_t *m)
{
    uint64_t x = av | bv, mu = am & bm;
    *v = x & ~mu;
    *m = mu;
}

static inline void tn_range(uint64_t lo, uint64_t hi, uint64_t *v, uint64_t *m)
{
    uint64_t chi = lo ^ hi;
    int bits;
    if (chi == 0) {
        *v = lo;
        *m = 0;
        return;
    }
    bits = 64 - __builtin_clzll(chi);
    if (bits > 63) {
        *v = 0;
        *m = VB_M64;
        return;
    }
    uint64_t delta = (1ULL << bits) - 1;
    *v = lo & ~delta;
    *m = delta;
}

static inline int tn_contains(uint64_t ov, uint64_t om, uint64_t iv, uint64_t im)
{
    if (im & ~om)
        return 0;
    return (iv & ~om) == ov;
}

static inline uint64_t tn_arsh(uint64_t x, unsigned s, int width)
{
    if (width == 64)
        return (uint64_t)((int64_t)x >> s);
    return (uint64_t)(uint32_t)((int32_t)(uint32_t)x >> s);
}

/* ------------------------------------------------------------------ sync */
static inline void vb_const(struct vb *b, uint64_t v)
{
    uint64_t lo = v & VB_M32;
    b->v = v;
    b->m = 0;
    b->umin = b->umax = v;
    b->smin = b->smax = vb_s64(v);
    b->u32min = b->u32max = (int64_t)lo;
    b->s32min = b->s32max = vb_s32(lo);
}

static inline uint64_t vb_tnum_step(uint64_t v, uint64_t m, uint64_t z)
{
    uint64_t tmax = v | m, y, best = 0;
    int have = 0, i;
    if (z >= tmax)
        return tmax;
    y = z + 1;
    if (y <= v)
        return v;
    for (i = 63 - __builtin_clzll(tmax); i >= 0; i--) {
        uint64_t bit = 1ULL << i, yi = y & bit;
        uint64_t hi = ~((bit << 1) - 1), lo = bit - 1;
        if (m & bit) {
            if (!yi) {
                best = (y & hi) | bit | (v & lo);
                have = 1;
            }
        } else if ((v & bit) != yi) {
            if (v & bit) {
                best = (y & hi) | bit | (v & lo);
                have = 1;
            }
            return have ? best : tmax;
        }
    }
    return y;
}

static inline void vb_update(struct vb *b)
{
    uint64_t v = b->v, m = b->m, v32 = v & VB_M32, m32 = m & VB_M32, tmax, nxt, one = 0;
    int in_tnum, have = 0;
    b->s32min = vb_max(b->s32min, vb_s32(v32 | (m32 & 0x80000000ULL)));
    b->s32max = vb_min(b->s32max, vb_s32(v32 | (m32 & 0x7FFFFFFFULL)));
    b->u32min = vb_max(b->u32min, (int64_t)v32);
    b->u32max = vb_min(b->u32max, (int64_t)(v32 | m32));
    b->smin = vb_max(b->smin, vb_s64(v | (m & (1ULL << 63))));
    b->smax = vb_min(b->smax, vb_s64(v | (m & (uint64_t)VB_S64_MAX)));
    b->umin = vb_umax(b->umin, v);
    b->umax = vb_umin(b->umax, v | m);
    in_tnum = (b->umin & ~m) == v;
    tmax = v | m;
    nxt = vb_tnum_step(v, m, b->umin);
    if (in_tnum && nxt > b->umax) {
        one = b->umin;
        have = 1;
    } else if (!in_tnum && nxt == tmax) {
        one = tmax;
        have = 1;
    } else if (!in_tnum && nxt <= b->umax && vb_tnum_step(v, m, nxt) > b->umax) {
        one = nxt;
        have = 1;
    }
    if (have)
        vb_const(b, one);
}

/* one width's signed/unsigned cross deduction (scalar._deduce_sign) */
static inline void vb_deduce_sign64(uint64_t *umin, uint64_t *umax, int64_t *smin, int64_t *smax)
{
    if (vb_s64(*umin) <= vb_s64(*umax)) {
        *smin = vb_max(*smin, vb_s64(*umin));
        *smax = vb_min(*smax, vb_s64(*umax));
    }
    if ((uint64_t)*smin <= (uint64_t)*smax) {
        *umin = vb_umax(*umin, (uint64_t)*smin);
        *umax = vb_umin(*umax, (uint64_t)*smax);
    } else if (*umax < (uint64_t)*smin) {
        *smin = vb_s64(*umin);
        *umax = vb_umin(*umax, (uint64_t)*smax);
    } else if ((uint64_t)*smax < *umin) {
        *smax = vb_s64(*umax);
        *umin = vb_umax(*umin, (uint64_t)*smin);
    }
}

static inline void vb_deduce_sign32(int64_t *umin, int64_t *umax, int64_t *smin, int64_t *smax)
{
    int64_t smin_u = (int64_t)((uint64_t)*smin & VB_M32), smax_u = (int64_t)((uint64_t)*smax & VB_M32);
    if (vb_s32((uint64_t)*umin) <= vb_s32((uint64_t)*umax)) {
        *smin = vb_max(*smin, vb_s32((uint64_t)*umin));
        *smax = vb_min(*smax, vb_s32((uint64_t)*umax));
        smin_u = (int64_t)((uint64_t)*smin & VB_M32);
        smax_u = (int64_t)((uint64_t)*smax & VB_M32);
    }
    if (smin_u <= smax_u) {
        *umin = vb_max(*umin, smin_u);
        *umax = vb_min(*umax, smax_u);
    } else if (*umax < smin_u) {
        *smin = vb_s32((uint64_t)*umin);
        *umax = vb_min(*umax, smax_u);
    } else if (smax_u < *umin) {
        *smax = vb_s32((uint64_t)*umax);
        *umin = vb_max(*umin, smin_u);
    }
}

static inline void vb_deduce(struct vb *b)
{
    if ((b->umin >> 32) == (b->umax >> 32)) {
        b->u32min = vb_max(b->u32min, (int64_t)(b->umin & VB_M32));
        b->u32max = vb_min(b->u32max, (int64_t)(b->umax & VB_M32));
        if (vb_s32(b->umin) <= vb_s32(b->umax)) {
            b->s32min = vb_max(b->s32min, vb_s32(b->umin));
            b->s32max = vb_min(b->s32max, vb_s32(b->umax));
        }
    }
    if ((b->smin >> 32) == (b->smax >> 32)) {
        b->u32min = vb_max(b->u32min, (int64_t)((uint64_t)b->smin & VB_M32));
        b->u32max = vb_min(b->u32max, (int64_t)((uint64_t)b->smax & VB_M32));
        if (vb_s32((uint64_t)b->smin) <= vb_s32((uint64_t)b->smax)) {
            b->s32min = vb_max(b->s32min, vb_s32((uint64_t)b->smin));
            b->s32max = vb_min(b->s32max, vb_s32((uint64_t)b->smax));
        }
    }
    if ((((b->umin >> 32) + 1) & VB_M32) == ((b->umax >> 32) & VB_M32) && vb_s32(b->umin) < 0 &&
        0 <= vb_s32(b->umax)) {
        b->s32min = vb_max(b->s32min, vb_s32(b->umin));
        b->s32max = vb_min(b->s32max, vb_s32(b->umax));
    }
    if ((((uint64_t)((b->smin >> 32) + 1)) & VB_M32) == ((uint64_t)(b->smax >> 32) & VB_M32) &&
        vb_s32((uint64_t)b->smin) < 0 && 0 <= vb_s32((uint64_t)b->smax)) {
        b->s32min = vb_max(b->s32min, vb_s32((uint64_t)b->smin));
        b->s32max = vb_min(b->s32max, vb_s32((uint64_t)b->smax));
    }
    vb_deduce_sign32(&b->u32min, &b->u32max, &b->s32min, &b->s32max);
    vb_deduce_sign64(&b->umin, &b->umax, &b->smin, &b->smax);
    b->umin = vb_umax(b->umin, (b->umin & VB_NOT32) | (uint64_t)b->u32min);
    b->umax = vb_umin(b->umax, (b->umax & VB_NOT32) | (uint64_t)b->u32max);
    b->smin = vb_max(b->smin, vb_s64(((uint64_t)b->smin & VB_NOT32) | (uint64_t)b->u32min));
    b->smax = vb_min(b->smax, vb_s64(((uint64_t)b->smax & VB_NOT32) | (uint64_t)b->u32max));
    if (b->s32min >= 0 && b->smin >= VB_S32_MIN && b->smax <= VB_S32_MAX) {
        uint64_t tv, tm;
        b->smin = b->s32min;
        b->smax = b->s32max;
        b->umin = (uint64_t)b->s32min;
        b->umax = (uint64_t)b->s32max;
        tn_range((uint64_t)b->smin, (uint64_t)b->smax, &tv, &tm);
        tn_intersect(b->v, b->m, tv, tm, &b->v, &b->m);
    }
}

/* reg_bounds_sync */
static inline void vb_sync(struct vb *b)
{
    uint64_t tv, tm, v64, m64, v32, m32;
    vb_update(b);
    vb_deduce(b);
    vb_deduce(b);
    vb_deduce(b);
    tn_range(b->umin, b->umax, &tv, &tm);
    tn_intersect(b->v, b->m, tv, tm, &v64, &m64);
    tn_range((uint64_t)b->u32min, (uint64_t)b->u32max, &tv, &tm);
    tn_intersect(v64 & VB_M32, m64 & VB_M32, tv, tm, &v32, &m32);
    b->v = (v64 & VB_NOT32) | v32;
    b->m = (m64 & VB_NOT32) | m32;
    vb_update(b);
}

static inline void vb_zext32(struct vb *b)
{
    if (0 <= b->s32min && 0 <= b->s32max) {
        b->smin = b->s32min;
        b->smax = b->s32max;
    } else {
        b->smin = 0;
        b->smax = (int64_t)VB_M32;
    }
    b->v &= VB_M32;
    b->m &= VB_M32;
    b->umin = (uint64_t)b->u32min;
    b->umax = (uint64_t)b->u32max;
}

static inline int vb_valid(const struct vb *b)
{
    if (b->umin > b->umax || b->smin > b->smax || b->u32min > b->u32max || b->s32min > b->s32max)
        return 0;
    if (b->m == 0 && !(b->umin == b->v && b->umax == b->v && b->smin == vb_s64(b->v) && b->smax == vb_s64(b->v)))
        return 0;
    if ((b->m & VB_M32) == 0) {
        int64_t lo = (int64_t)(b->v & VB_M32);
        if (!(b->u32min == lo && b->u32max == lo && b->s32min == vb_s32(b->v) && b->s32max == vb_s32(b->v)))
            return 0;
    }
    return 1;
}

/* the ALU and branch steps, in two files for size (one concept each) */
#include "bounds_alu.h"
#include "bounds_branch.h"

#endif
