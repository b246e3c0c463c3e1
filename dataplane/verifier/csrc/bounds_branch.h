/* bounds_branch.h: conditional jumps on struct vb (branch.py's branch_taken / refine).
 * Part of bounds.h (split for size): include bounds.h, not this file. */
#ifndef DP_VERIFIER_BOUNDS_BRANCH_H
#define DP_VERIFIER_BOUNDS_BRANCH_H

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

#endif /* DP_VERIFIER_BOUNDS_BRANCH_H */
