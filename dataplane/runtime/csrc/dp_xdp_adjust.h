/*
 * bpf_xdp_adjust_head / _meta on a struct dp_xdp_buff, with the limits and
 * return values of net/core/filter.c. One definition for both
 * callers: the helpers (helpers_xdp.c, after checking R1 is the XDP ctx)
 * and JIT-compiled verified code (dp_jit_helpers.h, where the verifier
 * proved it), so the engines cannot drift apart. (adjust_tail stays a
 * helper call: multi-buffer frames make it more than pointer arithmetic.)
 */
#ifndef DP_XDP_ADJUST_H
#define DP_XDP_ADJUST_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dp_helpers.h"

static inline uint64_t dp_xdp_metalen(const struct dp_xdp_buff *x) { return (uint64_t)(x->data - x->data_meta); }

static inline uint64_t dp_xdp_adjust_head_do(struct dp_env *env, struct dp_xdp_buff *x, int32_t off)
{
    uint64_t meta = dp_xdp_metalen(x);
    uint8_t *start = x->hard_start + DP_XDP_FRAME_HDR + meta;
    uint8_t *data = x->data + off;
    if (data < start || data > x->data_end - DP_ETH_HLEN)
        return (uint64_t)-EINVAL;
    if (meta)
        memmove(x->data_meta + off, x->data_meta, meta);
    x->data_meta += off;
    x->data = data;
    dp_xdp_sync(env, x);
    return 0;
}

static inline uint64_t dp_xdp_adjust_meta_do(struct dp_env *env, struct dp_xdp_buff *x, int32_t off)
{
    uint8_t *meta = x->data_meta + off;
    uint64_t len;
    if (meta < x->hard_start + DP_XDP_FRAME_HDR || meta > x->data)
        return (uint64_t)-EINVAL;
    len = (uint64_t)(x->data - meta);
    /* xdp_metalen_invalid: 4-byte multiple, at most skb_shared_info.meta_len's max (255) */
    if ((len & 3) || len > 255)
        return (uint64_t)-EACCES;
    x->data_meta = meta;
    dp_xdp_sync(env, x);
    return 0;
}

#endif /* DP_XDP_ADJUST_H */
