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

/* ------------------------------------------------------------------ ALU */
/* The range halves of scalar._add/_sub/_mul/_bitwise: one width at a time,
 * on (umin, umax, smin, smax) with the other operand's (umin, umax, smin,
 * smax).  Wide intermediates reproduce the Python overflow checks. */
typedef __int128 vb_i128;
typedef unsigned __int128 vb_u128;

static inline void vb_limits(int w, vb_u128 *um, vb_i128 *smn, vb_i128 *smx)
{
    if (w == 64) {
        *um = VB_M64;
        *smn = VB_S64_MIN;
        *smx = VB_S64_MAX;
    } else {
        *um = VB_M32;
        *smn = VB_S32_MIN;
        *smx = VB_S32_MAX;
    }
}

static inline void vb_add_r(vb_i128 *r, const vb_i128 *b, int w)
{
    vb_u128 um;
    vb_i128 smn, smx, lo = r[2] + b[2], hi = r[3] + b[3];
    vb_limits(w, &um, &smn, &smx);
    if (!(smn <= lo && lo <= smx && smn <= hi && hi <= smx)) {
        r[2] = smn;
        r[3] = smx;
    } else {
        r[2] = lo;
        r[3] = hi;
    }
    vb_i128 ulo = r[0] + b[0], uhi = r[1] + b[1];
    int lo_o = ulo > (vb_i128)um, hi_o = uhi > (vb_i128)um;
    r[0] = ulo & (vb_i128)um;
    r[1] = uhi & (vb_i128)um;
    if (!lo_o && hi_o) {
        r[0] = 0;
        r[1] = (vb_i128)um;
    }
}

static inline void vb_sub_r(vb_i128 *r, const vb_i128 *b, int w)
{
    vb_u128 um;
    vb_i128 smn, smx, lo = r[2] - b[3], hi = r[3] - b[2];
    vb_limits(w, &um, &smn, &smx);
    if (!(smn <= lo && lo <= smx && smn <= hi && hi <= smx)) {
        r[2] = smn;
        r[3] = smx;
    } else {
        r[2] = lo;
        r[3] = hi;
    }
    int lo_u = r[0] < b[1], hi_u = r[1] < b[0];
    r[0] = (r[0] - b[1]) & (vb_i128)um;
    r[1] = (r[1] - b[0]) & (vb_i128)um;
    if (lo_u && !hi_u) {
        r[0] = 0;
        r[1] = (vb_i128)um;
    }
}

static inline void vb_mul_r(vb_i128 *r, const vb_i128 *b, int w)
{
    vb_u128 um;
    vb_i128 smn, smx, p[4], mn, mx;
    int i;
    vb_limits(w, &um, &smn, &smx);
    vb_u128 hi = (vb_u128)r[1] * (vb_u128)b[1], lo = (vb_u128)r[0] * (vb_u128)b[0];
    if (hi > um || lo > um) {
        r[0] = 0;
        r[1] = (vb_i128)um;
    } else {
        r[0] = (vb_i128)lo;
        r[1] = (vb_i128)hi;
    }
    p[0] = r[2] * b[2];
    p[1] = r[2] * b[3];
    p[2] = r[3] * b[2];
    p[3] = r[3] * b[3];
    mn = mx = p[0];
    for (i = 1; i < 4; i++) {
        if (p[i] < mn)
            mn = p[i];
        if (p[i] > mx)
            mx = p[i];
    }
    if (mn < smn || mx > smx) {
        r[2] = smn;
        r[3] = smx;
    } else {
        r[2] = mn;
        r[3] = mx;
    }
}

static inline vb_i128 vb_to_signed(vb_u128 x, int w)
{
    return w == 64 ? (vb_i128)(int64_t)(uint64_t)x : (vb_i128)(int32_t)(uint32_t)x;
}

static inline void vb_bitwise_r(int op, vb_i128 *r, const vb_i128 *b, uint64_t tv, uint64_t tm, int w)
{
    vb_u128 um;
    vb_i128 smn, smx;
    vb_limits(w, &um, &smn, &smx);
    if (op == VB_AND) {
        r[0] = tv;
        r[1] = r[1] < b[1] ? r[1] : b[1];
    } else if (op == VB_OR) {
        r[0] = r[0] > b[0] ? r[0] : b[0];
        r[1] = tv | tm;
    } else {
        r[0] = tv;
        r[1] = tv | tm;
    }
    if (vb_to_signed(r[0], w) <= vb_to_signed(r[1], w)) {
        r[2] = vb_to_signed(r[0], w);
        r[3] = vb_to_signed(r[1], w);
    } else {
        r[2] = smn;
        r[3] = smx;
    }
}

static inline void vb_lsh32(int64_t u0, int64_t u1, unsigned s, int64_t *o0, int64_t *o1)
{
    if (s > 31 || u1 > (1LL << (31 - s))) {
        *o0 = 0;
        *o1 = (int64_t)VB_M32;
    } else {
        *o0 = u0 << s;
        *o1 = u1 << s;
    }
}

static inline void vb_from128(struct vb *out, uint64_t v, uint64_t m, const vb_i128 *r64, const vb_i128 *r32)
{
    out->v = v;
    out->m = m;
    out->umin = (uint64_t)r64[0];
    out->umax = (uint64_t)r64[1];
    out->smin = (int64_t)r64[2];
    out->smax = (int64_t)r64[3];
    out->u32min = (int64_t)r32[0];
    out->u32max = (int64_t)r32[1];
    out->s32min = (int64_t)r32[2];
    out->s32max = (int64_t)r32[3];
}

/* scalar.alu: a <op> b, then zext (alu32) and sync.  Shift amounts are
 * constants below the width (the caller checked). */
static inline int vb_alu(int op, const struct vb *a, const struct vb *b, int alu32, struct vb *out)
{
    uint64_t v = 0, m = 0;
    if (op <= VB_XOR) {
        vb_i128 r64[4] = {a->umin, a->umax, a->smin, a->smax}, b64[4] = {b->umin, b->umax, b->smin, b->smax};
        vb_i128 r32[4] = {a->u32min, a->u32max, a->s32min, a->s32max};
        vb_i128 b32[4] = {b->u32min, b->u32max, b->s32min, b->s32max};
        switch (op) {
        case VB_ADD:
            tn_add(a->v, a->m, b->v, b->m, &v, &m);
            vb_add_r(r32, b32, 32);
            vb_add_r(r64, b64, 64);
            break;
        case VB_SUB:
            tn_sub(a->v, a->m, b->v, b->m, &v, &m);
            vb_sub_r(r32, b32, 32);
            vb_sub_r(r64, b64, 64);
            break;
        case VB_MUL:
            tn_mul(a->v, a->m, b->v, b->m, &v, &m);
            vb_mul_r(r32, b32, 32);
            vb_mul_r(r64, b64, 64);
            break;
        default:
            if (op == VB_AND) {
                uint64_t x = a->v & b->v;
                v = x;
                m = (a->v | a->m) & (b->v | b->m) & ~x;
            } else if (op == VB_OR) {
                v = a->v | b->v;
                m = (a->m | b->m) & ~v;
            } else {
                uint64_t mu = a->m | b->m;
                v = (a->v ^ b->v) & ~mu;
                m = mu;
            }
            vb_bitwise_r(op, r32, b32, v & VB_M32, m & VB_M32, 32);
            vb_bitwise_r(op, r64, b64, v, m, 64);
        }
        vb_from128(out, v, m, r64, r32);
    } else {
        unsigned s = (unsigned)(alu32 ? (b->umin & VB_M32) : b->umin);
        if (s >= 64)
            return VB_PYTHON;
        if (alu32) {
            uint64_t sv = a->v & VB_M32, sm = a->m & VB_M32;
            out->umin = 0;
            out->umax = VB_M64;
            out->smin = VB_S64_MIN;
            out->smax = VB_S64_MAX;
            if (op == VB_LSH) {
                if (s >= 32)
                    return VB_PYTHON;
                vb_lsh32(a->u32min, a->u32max, s, &out->u32min, &out->u32max);
                out->v = (sv << s) & VB_M32;
                out->m = (sm << s) & VB_M32;
                out->s32min = VB_S32_MIN;
                out->s32max = VB_S32_MAX;
            } else if (op == VB_RSH) {
                out->v = sv >> s;
                out->m = sm >> s;
                out->u32min = a->u32min >> s;
                out->u32max = a->u32max >> s;
                out->s32min = VB_S32_MIN;
                out->s32max = VB_S32_MAX;
            } else {
                if (s >= 32)
                    return VB_PYTHON;
                out->v = tn_arsh(sv, s, 32);
                out->m = tn_arsh(sm, s, 32);
                out->u32min = 0;
                out->u32max = (int64_t)VB_M32;
                out->s32min = a->s32min >> s;
                out->s32max = a->s32max >> s;
            }
        } else if (op == VB_LSH) {
            out->smax = (s == 32 && a->s32max >= 0) ? (a->s32max << 32) : VB_S64_MAX;
            out->smin = (s == 32 && a->s32min >= 0) ? (a->s32min << 32) : VB_S64_MIN;
            if (s < 64 && a->umax <= (1ULL << (63 - s))) {
                out->umin = a->umin << s;
                out->umax = a->umax << s;
            } else {
                out->umin = 0;
                out->umax = VB_M64;
            }
            vb_lsh32(a->u32min, a->u32max, s, &out->u32min, &out->u32max);
            out->v = a->v << s;
            out->m = a->m << s;
            out->s32min = VB_S32_MIN;
            out->s32max = VB_S32_MAX;
        } else if (op == VB_RSH) {
            out->v = a->v >> s;
            out->m = a->m >> s;
            out->umin = a->umin >> s;
            out->umax = a->umax >> s;
            out->smin = VB_S64_MIN;
            out->smax = VB_S64_MAX;
            out->u32min = 0;
            out->u32max = (int64_t)VB_M32;
            out->s32min = VB_S32_MIN;
            out->s32max = VB_S32_MAX;
        } else {
            out->v = tn_arsh(a->v, s, 64);
            out->m = tn_arsh(a->m, s, 64);
            out->umin = 0;
            out->umax = VB_M64;
            out->smin = a->smin >> s;
            out->smax = a->smax >> s;
            out->u32min = 0;
            out->u32max = (int64_t)VB_M32;
            out->s32min = VB_S32_MIN;
            out->s32max = VB_S32_MAX;
        }
        vb_update(out);
    }
    if (alu32)
        vb_zext32(out);
    vb_sync(out);
    return VB_OK;
}

/* scalar.neg: 0 - a */
static inline void vb_neg(const struct vb *a, int alu32, struct vb *out)
{
    uint64_t v, m;
    vb_i128 r64[4] = {0, 0, 0, 0}, r32[4] = {0, 0, 0, 0};
    vb_i128 a64[4] = {a->umin, a->umax, a->smin, a->smax}, a32[4] = {a->u32min, a->u32max, a->s32min, a->s32max};
    tn_sub(0, 0, a->v, a->m, &v, &m);
    vb_sub_r(r64, a64, 64);
    vb_sub_r(r32, a32, 32);
    vb_from128(out, v, m, r64, r32);
    if (alu32)
        vb_zext32(out);
    vb_sync(out);
}

/* ------------------------------------------------------------------ branches */
static inline void vb_view(const struct vb *b, int is32, uint64_t *v, uint64_t *m, vb_i128 *r)
{
    if (is32) {
        *v = b->v & VB_M32;
        *m = b->m & VB_M32;
        r[0] = b->u32min;
        r[1] = b->u32max;
        r[2] = b->s32min;
        r[3] = b->s32max;
    } else {
        *v = b->v;
        *m = b->m;
        r[0] = b->umin;
        r[1] = b->umax;
        r[2] = b->smin;
        r[3] = b->smax;
    }
}

/* branch.branch_taken: 1 always, 0 never, -1 unknown */
static inline int vb_branch_taken(int o, const struct vb *a, const struct vb *b, int is32, int same)
{
    uint64_t v1, m1, v2, m2;
    vb_i128 r1[4], r2[4];
    if (same) {
        if (o == VB_JGE || o == VB_JLE || o == VB_JSGE || o == VB_JSLE || o == VB_JEQ)
            return 1;
        if (o == VB_JGT || o == VB_JLT || o == VB_JSGT || o == VB_JSLT || o == VB_JNE)
            return 0;
    }
    vb_view(a, is32, &v1, &m1, r1);
    vb_view(b, is32, &v2, &m2, r2);
    switch (o) {
    case VB_JEQ:
    case VB_JNE: {
        int eq = o == VB_JEQ;
        if (m1 == 0 && m2 == 0)
            return (v1 == v2) == eq;
        if ((v1 ^ v2) & ~(m1 | m2))
            return eq ? 0 : 1;
        if (r1[0] > r2[1] || r1[1] < r2[0] || r1[2] > r2[3] || r1[3] < r2[2])
            return eq ? 0 : 1;
        if (!is32 && (a->u32min > b->u32max || a->u32max < b->u32min || a->s32min > b->s32max ||
                      a->s32max < b->s32min))
            return eq ? 0 : 1;
        return -1;
    }
    case VB_JSET:
        if (m2 != 0) {
            uint64_t tv = v1, tm = m1;
            v1 = v2;
            m1 = m2;
            v2 = tv;
            m2 = tm;
        }
        if (m2 != 0)
            return -1;
        if ((~m1 & v1) & v2)
            return 1;
        if (!((m1 | v1) & v2))
            return 0;
        return -1;
    case VB_JGT:
        return r1[0] > r2[1] ? 1 : r1[1] <= r2[0] ? 0 : -1;
    case VB_JSGT:
        return r1[2] > r2[3] ? 1 : r1[3] <= r2[2] ? 0 : -1;
    case VB_JLT:
        return r1[1] < r2[0] ? 1 : r1[0] >= r2[1] ? 0 : -1;
    case VB_JSLT:
        return r1[3] < r2[2] ? 1 : r1[2] >= r2[3] ? 0 : -1;
    case VB_JGE:
        return r1[0] >= r2[1] ? 1 : r1[1] < r2[0] ? 0 : -1;
    case VB_JSGE:
        return r1[2] >= r2[3] ? 1 : r1[3] < r2[2] ? 0 : -1;
    case VB_JLE:
        return r1[1] <= r2[0] ? 1 : r1[0] > r2[1] ? 0 : -1;
    case VB_JSLE:
        return r1[3] <= r2[2] ? 1 : r1[2] > r2[3] ? 0 : -1;
    }
    return -1;
}

/* field access by the Python tuple index (1..8) */
static inline vb_i128 vb_get(const struct vb *b, int i)
{
    switch (i) {
    case 1: return b->umin;
    case 2: return b->umax;
    case 3: return b->smin;
    case 4: return b->smax;
    case 5: return b->u32min;
    case 6: return b->u32max;
    case 7: return b->s32min;
    default: return b->s32max;
    }
}

static inline int vb_set(struct vb *b, int i, vb_i128 x)
{
    /* a value the field cannot hold: Python would keep it, fall back */
    switch (i) {
    case 1:
    case 2:
        if (x < 0 || x > (vb_i128)VB_M64)
            return VB_PYTHON;
        if (i == 1)
            b->umin = (uint64_t)x;
        else
            b->umax = (uint64_t)x;
        return VB_OK;
    case 3:
    case 4:
        if (x < VB_S64_MIN || x > VB_S64_MAX)
            return VB_PYTHON;
        if (i == 3)
            b->smin = (int64_t)x;
        else
            b->smax = (int64_t)x;
        return VB_OK;
    default:
        if (x < VB_S64_MIN || x > VB_S64_MAX)
            return VB_PYTHON;
        if (i == 5)
            b->u32min = (int64_t)x;
        else if (i == 6)
            b->u32max = (int64_t)x;
        else if (i == 7)
            b->s32min = (int64_t)x;
        else
            b->s32max = (int64_t)x;
        return VB_OK;
    }
}

static inline int vb_is_const(const struct vb *b, int is32)
{
    return is32 ? (b->m & VB_M32) == 0 : b->m == 0;
}

static inline void vb_with_tnum(struct vb *b, uint64_t v, uint64_t m, int is32)
{
    if (is32) {
        b->v = (b->v & VB_NOT32) | (v & VB_M32);
        b->m = (b->m & VB_NOT32) | (m & VB_M32);
    } else {
        b->v = v;
        b->m = m;
    }
}

/* branch.refine: (a, b) given `a <o> b` (o may be -VB_JSET), synced.  The
 * results may be invalid on a dead branch. */
static inline int vb_refine(int o, const struct vb *a, const struct vb *b, int is32, struct vb *oa, struct vb *ob)
{
    struct vb r1 = *a, r2 = *b, *p1 = &r1, *p2 = &r2, *t;
    int swapped = 0, U0, U1, S0, S1, w = is32 ? 32 : 64;
    vb_u128 um = is32 ? VB_M32 : VB_M64;
    if (o == VB_JGE || o == VB_JGT || o == VB_JSGE || o == VB_JSGT) {
        o = o == VB_JGE ? VB_JLE : o == VB_JGT ? VB_JLT : o == VB_JSGE ? VB_JSLE : VB_JSLT;
        t = p1;
        p1 = p2;
        p2 = t;
        swapped = 1;
    }
    U0 = is32 ? 5 : 1;
    U1 = U0 + 1;
    S0 = is32 ? 7 : 3;
    S1 = S0 + 1;
    if (o == VB_JEQ) {
        int idx[4] = {U0, U1, S0, S1}, k;
        for (k = 0; k < 4; k += 2) {
            vb_i128 lo = vb_get(p1, idx[k]) > vb_get(p2, idx[k]) ? vb_get(p1, idx[k]) : vb_get(p2, idx[k]);
            vb_i128 hi = vb_get(p1, idx[k + 1]) < vb_get(p2, idx[k + 1]) ? vb_get(p1, idx[k + 1])
                                                                          : vb_get(p2, idx[k + 1]);
            vb_set(p1, idx[k], lo);
            vb_set(p2, idx[k], lo);
            vb_set(p1, idx[k + 1], hi);
            vb_set(p2, idx[k + 1], hi);
        }
        if (is32) {
            uint64_t v, m;
            tn_intersect(p1->v & VB_M32, p1->m & VB_M32, p2->v & VB_M32, p2->m & VB_M32, &v, &m);
            vb_with_tnum(p1, v, m, 1);
            vb_with_tnum(p2, v, m, 1);
        } else {
            uint64_t v, m;
            tn_intersect(p1->v, p1->m, p2->v, p2->m, &v, &m);
            p1->v = p2->v = v;
            p1->m = p2->m = m;
        }
    } else if (o == VB_JNE || o == VB_JSET || o == -VB_JSET) {
        if (!vb_is_const(p2, is32)) {
            t = p1;
            p1 = p2;
            p2 = t;
            swapped = !swapped;
        }
        if (vb_is_const(p2, is32)) {
            uint64_t val = p2->v & (uint64_t)um;
            if (o == VB_JNE) {
                vb_i128 sval = vb_to_signed(val, w);
                if (vb_get(p1, U0) == (vb_i128)val && vb_set(p1, U0, (vb_i128)val + 1))
                    return VB_PYTHON;
                if (vb_get(p1, U1) == (vb_i128)val && vb_set(p1, U1, (vb_i128)val - 1))
                    return VB_PYTHON;
                if (vb_get(p1, S0) == sval && vb_set(p1, S0, sval + 1))
                    return VB_PYTHON;
                if (vb_get(p1, S1) == sval && vb_set(p1, S1, sval - 1))
                    return VB_PYTHON;
            } else if (o == VB_JSET) {
                if (val && (val & (val - 1)) == 0) {
                    uint64_t sv = is32 ? p1->v & VB_M32 : p1->v, sm = is32 ? p1->m & VB_M32 : p1->m;
                    uint64_t nv = sv | val, nm = sm & ~nv;
                    vb_with_tnum(p1, nv, nm, is32);
                }
            } else {
                uint64_t sv = is32 ? p1->v & VB_M32 : p1->v, sm = is32 ? p1->m & VB_M32 : p1->m;
                uint64_t k = ~val & (uint64_t)um, x = sv & k;
                p1->umin = 0;
                p1->umax = VB_M64;
                p1->smin = VB_S64_MIN;
                p1->smax = VB_S64_MAX;
                p1->u32min = 0;
                p1->u32max = (int64_t)VB_M32;
                p1->s32min = VB_S32_MIN;
                p1->s32max = VB_S32_MAX;
                vb_with_tnum(p1, x, (sv | sm) & k & ~x, is32);
            }
        }
    } else if (o == VB_JLE) {
        if (vb_get(p2, U1) < vb_get(p1, U1))
            vb_set(p1, U1, vb_get(p2, U1));
        if (vb_get(p1, U0) > vb_get(p2, U0))
            vb_set(p2, U0, vb_get(p1, U0));
    } else if (o == VB_JLT) {
        vb_i128 x = (vb_get(p2, U1) - 1) & (vb_i128)um, y = (vb_get(p1, U0) + 1) & (vb_i128)um;
        if (x < vb_get(p1, U1))
            vb_set(p1, U1, x);
        if (y > vb_get(p2, U0))
            vb_set(p2, U0, y);
    } else if (o == VB_JSLE) {
        if (vb_get(p2, S1) < vb_get(p1, S1))
            vb_set(p1, S1, vb_get(p2, S1));
        if (vb_get(p1, S0) > vb_get(p2, S0))
            vb_set(p2, S0, vb_get(p1, S0));
    } else if (o == VB_JSLT) {
        vb_i128 x = vb_to_signed((vb_u128)(vb_get(p2, S1) - 1), w), y = vb_to_signed((vb_u128)(vb_get(p1, S0) + 1), w);
        if (x < vb_get(p1, S1))
            vb_set(p1, S1, x);
        if (y > vb_get(p2, S0))
            vb_set(p2, S0, y);
    }
    if (swapped) {
        t = p1;
        p1 = p2;
        p2 = t;
    }
    *oa = *p1;
    *ob = *p2;
    vb_sync(oa);
    vb_sync(ob);
    return VB_OK;
}

#endif
