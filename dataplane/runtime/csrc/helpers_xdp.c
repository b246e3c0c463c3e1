/* XDP context and XDP-only helpers, with the limits and return values of
 * net/core/filter.c (bpf_xdp_adjust_head/tail/meta, bpf_xdp_redirect*,
 * bpf_csum_diff) and the ctx rewrite of xdp_convert_ctx_access. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dp_helpers.h"
#include "dp_csum.h"
#include "dp_xdp_adjust.h"

#define RT(env) ((struct dp_rt *)(env)->user)

/* helpers_xdp_frags.c */
uint64_t dp_xdp_frags_shrink_tail(struct dp_xdp_buff *x, int32_t shrink);
uint64_t dp_xdp_frags_increase_tail(struct dp_xdp_buff *x, int32_t grow);

/* enum xdp_action */
#define XDP_ABORTED 0
#define XDP_REDIRECT 4
#define BPF_F_BROADCAST (1ull << 3)
#define BPF_F_EXCLUDE_INGRESS (1ull << 4)

static int ctx_fail(struct dp_env *env, uint32_t off, uint32_t size)
{
    snprintf(env->errmsg, sizeof(env->errmsg), "invalid bpf_context access off=%u size=%u", off, size);
    return -1;
}

/* struct xdp_md: u32 loads only (__is_valid_xdp_access); data/data_end/
 * data_meta become the 64-bit pointers; egress_ifindex only for devmap
 * programs, which we do not run. */
int dp_xdp_ctx_load(struct dp_env *env, uint32_t off, uint32_t size, uint64_t *out)
{
    const struct dp_xdp_buff *x = env->ctx;
    if (size != 4 || (off & 3))
        return ctx_fail(env, off, size);
    switch (off) {
    case 0: *out = (uint64_t)(uintptr_t)x->data; return 0;
    case 4: *out = (uint64_t)(uintptr_t)x->data_end; return 0;
    case 8: *out = (uint64_t)(uintptr_t)x->data_meta; return 0;
    case 12: *out = x->ingress_ifindex; return 0;
    case 16: *out = x->rx_queue_index; return 0;
    default: return ctx_fail(env, off, size);
    }
}

/* struct __sk_buff, the fields a socket filter may read that we model:
 * len, pkt_type, protocol, ingress_ifindex, ifindex, cb[] (normally plain
 * memory through the ctx window; here for a ctx without one); the rest of
 * the readable u32 fields are 0 in a test run (mark, queue_mapping,
 * vlan_*, priority, tc_index, hash). */
int dp_skb_ctx_load(struct dp_env *env, uint32_t off, uint32_t size, uint64_t *out)
{
    const struct dp_skb *s = env->ctx;
    uint32_t v;
    if (off >= 72 || (size != 1 && size != 2 && size != 4) || (off & (size - 1)))
        return ctx_fail(env, off, size);
    switch (off & ~3u) {
    case 0: v = s->len; break;
    case 4: v = s->pkt_type; break;
    case 16: v = s->protocol; break;
    case 36: v = s->ingress_ifindex; break;
    case 40: v = s->ifindex; break;
    case 48: case 52: case 56: case 60: case 64: v = s->cb[((off & ~3u) - DP_SKB_CB_OFF) / 4]; break;
    default: v = 0; break;
    }
    *out = (v >> ((off & 3) * 8)) & (size == 4 ? 0xffffffffu : (1u << (size * 8)) - 1);
    return 0;
}

struct dp_xdp_buff *dp_xdp_of(struct dp_env *env, uint64_t ctx, const char *helper)
{
    if (env->ctx_load != dp_xdp_ctx_load || ctx != env->ctx_lo) {
        dp_env_fail(env, "%s: R1 is not the XDP context", helper);
        return NULL;
    }
    return env->ctx;
}

uint64_t dp_h_xdp_adjust_head(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, "bpf_xdp_adjust_head");
    (void)r3; (void)r4; (void)r5;
    return x ? dp_xdp_adjust_head_do(env, x, (int32_t)r2) : 0;
}

uint64_t dp_h_xdp_adjust_tail(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, "bpf_xdp_adjust_tail");
    int32_t off = (int32_t)r2;
    uint8_t *hard_end, *end;
    (void)r3; (void)r4; (void)r5;
    if (!x)
        return 0;
    if (dp_xdp_has_frags(x)) {   /* non-linear: the tail is the last fragment */
        /* -offset in the kernel's int arithmetic (INT_MIN stays INT_MIN) */
        uint64_t ret = off < 0 ? dp_xdp_frags_shrink_tail(x, (int32_t)(0u - (uint32_t)off))
                               : dp_xdp_frags_increase_tail(x, off);
        dp_xdp_sync(env, x);       /* shrinking the last fragment away moves data_end */
        return ret;
    }
    hard_end = x->hard_start + x->frame_sz - DP_XDP_TAILROOM;
    end = x->data_end + off;
    if (end > hard_end || end < x->data + DP_ETH_HLEN)
        return (uint64_t)-EINVAL;
    if (off > 0)
        memset(x->data_end, 0, (size_t)off);  /* the kernel clears grown room too */
    x->data_end = end;
    dp_xdp_sync(env, x);
    return 0;
}

uint64_t dp_h_xdp_adjust_meta(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, "bpf_xdp_adjust_meta");
    (void)r3; (void)r4; (void)r5;
    return x ? dp_xdp_adjust_meta_do(env, x, (int32_t)r2) : 0;
}

/* bpf_xdp_redirect(ifindex, flags) */
uint64_t dp_h_redirect(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_rt *rt = RT(env);
    (void)r3; (void)r4; (void)r5;
    if (r2)
        return XDP_ABORTED;
    if (rt) {
        rt->redirect_kind = DP_REDIRECT_IFINDEX;
        rt->redirect_index = (uint32_t)r1;
        rt->redirect_flags = 0;
        rt->redirect_map = NULL;
    }
    return XDP_REDIRECT;
}

/* bpf_redirect_map(map, key, flags): the low two flag bits are the action
 * when the key has no entry (__bpf_xdp_redirect_map). */
uint64_t dp_h_redirect_map(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_rt *rt = RT(env);
    struct dp_map *m = NULL;
    const uint64_t action_mask = 3;
    uint64_t flags_mask;
    uint32_t key = (uint32_t)r2, i;
    void *v;
    (void)r4; (void)r5;
    for (i = 0; rt && i < rt->nmaps; i++)
        if ((uint64_t)(uintptr_t)rt->maps[i] == r1)
            m = rt->maps[i];
    if (!m)
        return dp_env_fail(env, "bpf_redirect_map: R1 is not a map of this program");
    if (m->map_type != DP_MAP_DEVMAP && m->map_type != DP_MAP_DEVMAP_HASH && m->map_type != DP_MAP_XSKMAP &&
        m->map_type != DP_MAP_CPUMAP)
        return dp_env_fail(env, "bpf_redirect_map: map type %u cannot redirect", m->map_type);
    /* only device maps broadcast (dev_map_redirect); cpumap and xskmap take
     * no flags beyond the fallback action */
    flags_mask = (m->map_type == DP_MAP_DEVMAP || m->map_type == DP_MAP_DEVMAP_HASH) ?
                 (BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS) : 0;
    if (r3 & ~(action_mask | flags_mask))
        return XDP_ABORTED;
    v = (r3 & BPF_F_BROADCAST) ? NULL : dp_map_lookup_elem(m, &key);
    if (!v && !(r3 & BPF_F_BROADCAST)) {
        if (rt)
            rt->redirect_kind = DP_REDIRECT_NONE;
        return r3 & action_mask;
    }
    if (rt) {
        rt->redirect_kind = DP_REDIRECT_MAP;
        rt->redirect_index = key;
        rt->redirect_flags = r3;
        rt->redirect_map = m;
    }
    return XDP_REDIRECT;
}

/* x86-64 csum_partial (dp_csum.h), exported for helpers.pyx's tests. */
uint32_t dp_csum_partial(const uint8_t *p, uint64_t len, uint32_t seed) { return dp_csum_partial_do(p, len, seed); }

/* bpf_csum_diff(from, from_size, to, to_size, seed): the memory checks
 * here, the arithmetic in dp_csum.h (shared with JIT-compiled code). */
uint64_t dp_h_csum_diff(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    uint32_t fs = (uint32_t)r2, ts = (uint32_t)r4;
    const uint8_t *from, *to;
    if ((uint64_t)fs + ts > DP_CSUM_DIFF_MAX)
        return (uint64_t)-EINVAL;
    from = dp_env_mem(env, r1, fs, DP_REGION_READ);
    to = dp_env_mem(env, r3, ts, DP_REGION_READ);
    if ((fs && !from) || (ts && !to))
        return dp_env_fail(env, "bpf_csum_diff: invalid memory access");
    return dp_csum_diff_do(from, fs, to, ts, (uint32_t)r5);
}
