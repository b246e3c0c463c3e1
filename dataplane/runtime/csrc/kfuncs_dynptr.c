/* XDP dynptr kfuncs (net/core/filter.c bpf_dynptr_from_xdp, kernel/bpf/
 * helpers.c bpf_dynptr_slice / bpf_dynptr_slice_rdwr), called by both
 * engines through the kfunc table, and the dynptr helpers bpf_dynptr_read /
 * bpf_dynptr_write / bpf_dynptr_data (helper ids 201-203) for XDP dynptrs.
 *
 * An XDP dynptr (dp_dynptr.h) holds the XDP buffer it was made from and the
 * length it had then (the kernel fixes the size at creation too:
 * xdp_get_buff_len, the linear part and every fragment); local and ringbuf
 * dynptrs are left to helpers_dynptr_mem.c. A slice points into the packet when the range lies in one piece
 * (the linear part or one fragment: bpf_xdp_pointer), else the bytes that
 * exist are copied into the caller's buffer (bpf_xdp_copy_buf, across the
 * pieces) and the buffer is returned; without a buffer the slice is NULL.
 * bpf_dynptr_read / _write are bpf_xdp_load_bytes / _store_bytes. Offsets
 * count from the packet's data as it is when the slice is taken. */
#include <errno.h>
#include <string.h>

#include "dp_dynptr.h"

/* The dynptr the program passed (16 bytes it may read and write). */
static struct dp_dynptr *arg_dynptr(struct dp_env *env, uint64_t addr, uint32_t need, const char *fn)
{
    struct dp_dynptr *d = dp_env_mem(env, addr, sizeof(*d), need);
    if (!d)
        dp_env_fail(env, "%s: the dynptr argument is not 16 bytes of program memory", fn);
    return d;
}

/* int bpf_dynptr_from_xdp(struct xdp_md *x, u64 flags, struct bpf_dynptr *ptr__uninit) */
static uint64_t kf_dynptr_from_xdp(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                   uint64_t r5)
{
    struct dp_dynptr *d = arg_dynptr(env, r3, DP_REGION_RW, "bpf_dynptr_from_xdp");
    struct dp_xdp_buff *x = env->ctx;
    (void)r4; (void)r5;
    if (!d)
        return 0;
    if (env->ctx_load != dp_xdp_ctx_load || r1 != env->ctx_lo)
        return dp_env_fail(env, "bpf_dynptr_from_xdp: R1 is not the XDP context");
    if (r2) {
        memset(d, 0, sizeof(*d));
        return (uint64_t)-EINVAL;
    }
    d->xdp = x;
    d->size = (uint32_t)dp_xdp_buff_len(x);
    d->info = DYNPTR_TYPE_XDP;
    return 0;
}

/* A slice inside a fragment is read (and written) by the program directly:
 * the interpreter's bounds checks learn the whole fragment as a region of
 * this run (one per fragment however many slices; the verifier kills the
 * slices when the packet changes). Verified JIT code is not checked. */
static int frag_region(struct dp_env *env, const struct dp_xdp_buff *x, const uint8_t *p)
{
    uint32_t i;
    if (env->trusted || (p >= x->data && p <= x->data_end) || !dp_xdp_has_frags(x))
        return 0;
    for (i = 0; i < x->frags->nr_frags; i++) {
        const struct dp_xdp_frag *f = &x->frags->frags[i];
        const uint8_t *lo = f->page + f->off;
        if (p >= lo && p <= lo + f->len)
            return dp_env_add_region(env, lo, f->len, DP_REGION_RW, 0);
    }
    return 0;
}

static uint64_t slice(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, int rdwr)
{
    const char *fn = rdwr ? "bpf_dynptr_slice_rdwr" : "bpf_dynptr_slice";
    struct dp_dynptr *d = arg_dynptr(env, r1, DP_REGION_READ, fn);
    uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    uint8_t *buf = NULL;
    struct dp_xdp_buff *x;
    uint8_t *p;
    int err;
    if (!d)
        return 0;
    if (r3) {
        buf = dp_env_mem(env, r3, len, DP_REGION_RW);
        if (!buf && len)
            return dp_env_fail(env, "%s: R3 is not %u bytes of writable memory", fn, len);
    }
    if (d->xdp && dp_dynptr_is_mem(d))
        return dp_dynptr_mem_ptr(env, d, off, len, rdwr);
    x = d->xdp;
    if (!x || (rdwr && (d->info & DYNPTR_RDONLY)))
        return 0;
    /* bpf_dynptr_check_off_len: against the size at creation */
    if (len > d->size || off > d->size - len)
        return 0;
    p = dp_xdp_pointer(x, off, len, &err);
    if (p && frag_region(env, x, p) != 0)
        return dp_env_fail(env, "%s: too many memory regions", fn);
    if (p)
        return (uint64_t)(uintptr_t)p;
    if (!buf)
        return 0;
    /* bpf_xdp_copy_buf even when bpf_xdp_pointer failed (a packet shrunk
     * since the dynptr was made): the buffer gets what the packet still has */
    dp_xdp_copy_buf(x, off, buf, len, 0);
    return (uint64_t)(uintptr_t)buf;
}

/* void *bpf_dynptr_slice(const struct bpf_dynptr *p, u32 offset, void *buffer__opt, u32 buffer__szk) */
static uint64_t kf_dynptr_slice(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r5;
    return slice(env, r1, r2, r3, r4, 0);
}

static uint64_t kf_dynptr_slice_rdwr(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                     uint64_t r5)
{
    (void)r5;
    return slice(env, r1, r2, r3, r4, 1);
}

/* bpf_dynptr_check_off_len */
static int check_off_len(const struct dp_dynptr *d, uint32_t off, uint32_t len)
{
    return (len > d->size || off > d->size - len) ? -E2BIG : 0;
}

/* __bpf_xdp_load_bytes / __bpf_xdp_store_bytes (flush) */
static uint64_t bytes(struct dp_xdp_buff *x, uint32_t off, uint8_t *buf, uint32_t len, int flush)
{
    int err;
    uint8_t *p = dp_xdp_pointer(x, off, len, &err);
    if (err)
        return (uint64_t)(int64_t)err;
    if (!p)
        dp_xdp_copy_buf(x, off, buf, len, flush);
    else if (flush)
        memmove(p, buf, len);    /* the source may be the packet itself */
    else
        memmove(buf, p, len);
    return 0;
}

/* long bpf_dynptr_read(void *dst, u32 len, const struct bpf_dynptr *src, u32 offset, u64 flags):
 * for an XDP dynptr __bpf_xdp_load_bytes, -EINVAL past the packet as it is now, fragments included */
uint64_t dp_h_dynptr_read(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_dynptr *d = arg_dynptr(env, r3, DP_REGION_READ, "bpf_dynptr_read");
    uint32_t len = (uint32_t)r2, off = (uint32_t)r4;
    uint8_t *dst;
    int err;
    if (!d)
        return 0;
    dst = dp_env_mem(env, r1, len, DP_REGION_WRITE);
    if (!dst && len)
        return dp_env_fail(env, "bpf_dynptr_read: R1 is not %u bytes of writable memory", len);
    if (!d->xdp || r5)
        return (uint64_t)-EINVAL;
    if (dp_dynptr_is_mem(d))
        return dp_dynptr_mem_read(env, dst, len, d, off, r5);
    if ((err = check_off_len(d, off, len)))
        return (uint64_t)(int64_t)err;
    return bytes(d->xdp, off, dst, len, 0);
}

/* long bpf_dynptr_write(const struct bpf_dynptr *dst, u32 offset, void *src, u32 len, u64 flags):
 * for an XDP dynptr __bpf_xdp_store_bytes */
uint64_t dp_h_dynptr_write(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_dynptr *d = arg_dynptr(env, r1, DP_REGION_READ, "bpf_dynptr_write");
    uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    const uint8_t *src;
    int err;
    if (!d)
        return 0;
    src = dp_env_mem(env, r3, len, DP_REGION_READ);
    if (!src && len)
        return dp_env_fail(env, "bpf_dynptr_write: R3 is not %u bytes of memory", len);
    if (!d->xdp || (d->info & DYNPTR_RDONLY))
        return (uint64_t)-EINVAL;
    if (dp_dynptr_is_mem(d))
        return dp_dynptr_mem_write(env, d, off, src, len, r5);
    if ((err = check_off_len(d, off, len)))
        return (uint64_t)(int64_t)err;
    if (r5)
        return (uint64_t)-EINVAL;
    return bytes(d->xdp, off, (uint8_t *)src, len, 1);
}

/* void *bpf_dynptr_data(const struct bpf_dynptr *ptr, u32 offset, u32 len):
 * NULL for XDP dynptrs (they are read through slices), as in the kernel;
 * the bytes themselves for local and ringbuf ones (writable unless read-only) */
uint64_t dp_h_dynptr_data(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_dynptr *d = arg_dynptr(env, r1, DP_REGION_READ, "bpf_dynptr_data");
    (void)r4; (void)r5;
    if (!d || !d->xdp || !dp_dynptr_is_mem(d))
        return 0;
    return dp_dynptr_mem_ptr(env, d, (uint32_t)r2, (uint32_t)r3, 1);
}

dp_helper_fn dp_dynptr_kfunc(uint32_t id)
{
    switch (id) {
    case 0: return kf_dynptr_from_xdp;
    case 1: return kf_dynptr_slice;
    case 2: return kf_dynptr_slice_rdwr;
    default: return NULL;
    }
}
