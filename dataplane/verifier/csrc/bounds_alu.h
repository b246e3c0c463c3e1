/* bounds_alu.h: ALU steps on struct vb (scalar._add/_sub/_mul/_bitwise, shifts, neg).
 * Part of bounds.h (split for size): include bounds.h, not this file. */
#ifndef DP_VERIFIER_BOUNDS_ALU_H
#define DP_VERIFIER_BOUNDS_ALU_H

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

#endif /* DP_VERIFIER_BOUNDS_ALU_H */
