/* Multi-buffer XDP: the byte helpers that reach past data_end into the
 * fragments (bpf_xdp_load_bytes, bpf_xdp_store_bytes, bpf_xdp_get_buff_len)
 * and bpf_xdp_adjust_tail on a non-linear buffer, with the checks and errno
 * values of net/core/filter.c (bpf_xdp_pointer, bpf_xdp_copy_buf,
 * bpf_xdp_frags_increase_tail, bpf_xdp_frags_shrink_tail). */
#include <errno.h>
#include <string.h>

#include "dp_helpers.h"

#define UNUSED(x) (void)(x)

/* bpf_xdp_pointer: a direct pointer when [off, off+len) lies in one piece
 * (linear part or one fragment), NULL when it spans pieces, or an error:
 * -EFAULT for offsets/lengths past 0xffff, -EINVAL past the buffer. */
uint8_t *dp_xdp_pointer(struct dp_xdp_buff *x, uint32_t off, uint32_t len, int *err)
{
    uint32_t size = (uint32_t)(x->data_end - x->data), i;
    uint8_t *addr = x->data;
    *err = 0;
    if (off > 0xffff || len > 0xffff) {
        *err = -EFAULT;
        return NULL;
    }
    if ((uint64_t)off + len > dp_xdp_buff_len(x)) {
        *err = -EINVAL;
        return NULL;
    }
    if (off >= size) {           /* paged area */
        off -= size;
        for (i = 0; dp_xdp_has_frags(x) && i < x->frags->nr_frags; i++) {   /* len 0 at the end: linear */
            const struct dp_xdp_frag *f = &x->frags->frags[i];
            if (off < f->len) {
                addr = f->page + f->off;
                size = f->len;
                break;
            }
            off -= f->len;
        }
    }
    return (uint64_t)off + len <= size ? addr + off : NULL;
}

/* bpf_xdp_copy_buf: copy across the linear part and the fragments
 * (flush: buf -> packet, else packet -> buf); bytes past the buffer are
 * left alone (bpf_dynptr_slice copies what is left of a shrunk packet). */
void dp_xdp_copy_buf(struct dp_xdp_buff *x, uint64_t off, uint8_t *buf, uint64_t len, int flush)
{
    uint64_t ptr_off = 0, ptr_len = (uint64_t)(x->data_end - x->data);
    uint8_t *ptr = x->data;
    uint32_t next = 0;
    for (;;) {
        if (off < ptr_off + ptr_len) {
            uint64_t co = off - ptr_off, cl = len < ptr_len - co ? len : ptr_len - co;
            if (flush)
                memcpy(ptr + co, buf, cl);
            else
                memcpy(buf, ptr + co, cl);
            off += cl;
            len -= cl;
            buf += cl;
        }
        if (!len || !x->frags || next == x->frags->nr_frags)
            break;
        ptr_off += ptr_len;
        ptr = x->frags->frags[next].page + x->frags->frags[next].off;
        ptr_len = x->frags->frags[next].len;
        next++;
    }
}

static uint64_t xdp_bytes(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, int store,
                          const char *helper)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, helper);
    uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    uint8_t *buf, *p;
    int err;
    if (!x)
        return 0;
    buf = dp_env_mem(env, r3, len, store ? DP_REGION_READ : DP_REGION_WRITE);
    if (!buf)
        return dp_env_fail(env, "%s: R3 invalid memory access: %u bytes at 0x%llx", helper, len,
                           (unsigned long long)r3);
    p = dp_xdp_pointer(x, off, len, &err);
    if (err)
        return (uint64_t)(int64_t)err;
    if (!p)
        dp_xdp_copy_buf(x, off, buf, len, store);
    else if (store)
        memmove(p, buf, len);    /* the source may be the packet itself */
    else
        memmove(buf, p, len);
    return 0;
}

/* bpf_xdp_load_bytes(ctx, offset, buf, len) */
uint64_t dp_h_xdp_load_bytes(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    UNUSED(r5);
    return xdp_bytes(env, r1, r2, r3, r4, 0, "bpf_xdp_load_bytes");
}

/* bpf_xdp_store_bytes(ctx, offset, buf, len) */
uint64_t dp_h_xdp_store_bytes(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    UNUSED(r5);
    return xdp_bytes(env, r1, r2, r3, r4, 1, "bpf_xdp_store_bytes");
}

/* bpf_xdp_get_buff_len(ctx) */
uint64_t dp_h_xdp_get_buff_len(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_xdp_buff *x = dp_xdp_of(env, r1, "bpf_xdp_get_buff_len");
    UNUSED(r2); UNUSED(r3); UNUSED(r4); UNUSED(r5);
    return x ? dp_xdp_buff_len(x) : 0;
}

/* bpf_xdp_frags_increase_tail: only the last fragment grows, within its
 * buffer (rxq->frag_size); the new bytes are zeroed. */
uint64_t dp_xdp_frags_increase_tail(struct dp_xdp_buff *x, int32_t grow)
{
    struct dp_xdp_frags *fr = x->frags;
    struct dp_xdp_frag *f = &fr->frags[fr->nr_frags - 1];
    int64_t tailroom;
    if (!fr->frag_size || fr->frag_size > x->frame_sz)
        return (uint64_t)-EOPNOTSUPP;
    tailroom = (int64_t)fr->frag_size - f->len - f->off % fr->frag_size;
    if (grow > tailroom)
        return (uint64_t)-EINVAL;
    memset(f->page + f->off + f->len, 0, (size_t)grow);
    f->len += (uint32_t)grow;
    fr->size += (uint32_t)grow;
    return 0;
}

/* bpf_xdp_frags_shrink_tail: fragments are trimmed (and released when
 * emptied) from the last one back; when none is left the buffer is linear
 * again and what remains of the shrink comes off data_end. */
uint64_t dp_xdp_frags_shrink_tail(struct dp_xdp_buff *x, int32_t shrink)
{
    struct dp_xdp_frags *fr = x->frags;
    int32_t i, n_free = 0, len_free = 0;
    if (shrink > (int64_t)dp_xdp_buff_len(x) - DP_ETH_HLEN)
        return (uint64_t)-EINVAL;
    for (i = (int32_t)fr->nr_frags - 1; i >= 0 && shrink > 0; i--) {
        struct dp_xdp_frag *f = &fr->frags[i];
        int32_t s = shrink < (int32_t)f->len ? shrink : (int32_t)f->len;
        len_free += s;
        shrink -= s;
        if ((uint32_t)s == f->len)
            n_free++;
        f->len -= (uint32_t)s;
    }
    fr->nr_frags -= (uint32_t)n_free;
    fr->size -= (uint32_t)len_free;
    if (!fr->nr_frags)
        x->data_end -= shrink;
    return 0;
}
