/* XDP dynptr kfuncs (net/core/filter.c bpf_dynptr_from_xdp, kernel/bpf/
 * helpers.c bpf_dynptr_slice / bpf_dynptr_slice_rdwr), called by both
 * engines through the kfunc table, and the dynptr helpers bpf_dynptr_read /
 * bpf_dynptr_write / bpf_dynptr_data (helper ids 201-203) for XDP dynptrs.
 *
 * struct bpf_dynptr is 16 opaque bytes on the program's stack (the verifier
 * lets nothing else read or write them). Here they hold the XDP buffer the
 * dynptr was made from, the length it had then (the kernel fixes the size at
 * creation too: xdp_get_buff_len) and the type. A slice points into the
 * packet when the range is in the linear part, else the bytes that exist
 * are copied into the caller's buffer (bpf_xdp_copy_buf) and the buffer is
 * returned; without a buffer the slice is NULL. Offsets count from the
 * packet's data as it is when the slice is taken. */
#include <errno.h>
#include <string.h>

#include "dp_helpers.h"

#define DYNPTR_TYPE_XDP 4u       /* enum bpf_dynptr_type: BPF_DYNPTR_TYPE_XDP */
#define DYNPTR_RDONLY (1u << 31)

struct dp_dynptr {
    struct dp_xdp_buff *xdp;     /* NULL: a null dynptr (bpf_dynptr_set_null) */
    uint32_t size;
    uint32_t info;               /* type | DYNPTR_RDONLY */
};

_Static_assert(sizeof(struct dp_dynptr) == 16, "struct bpf_dynptr is 16 bytes");

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
    d->size = (uint32_t)(x->data_end - x->data);
    d->info = DYNPTR_TYPE_XDP;
    return 0;
}

static uint64_t slice(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, int rdwr)
{
    const char *fn = rdwr ? "bpf_dynptr_slice_rdwr" : "bpf_dynptr_slice";
    struct dp_dynptr *d = arg_dynptr(env, r1, DP_REGION_READ, fn);
    uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    uint8_t *buf = NULL;
    struct dp_xdp_buff *x;
    uint64_t have;
    if (!d)
        return 0;
    if (r3) {
        buf = dp_env_mem(env, r3, len, DP_REGION_RW);
        if (!buf && len)
            return dp_env_fail(env, "%s: R3 is not %u bytes of writable memory", fn, len);
    }
    x = d->xdp;
    if (!x || (rdwr && (d->info & DYNPTR_RDONLY)))
        return 0;
    /* bpf_dynptr_check_off_len: against the size at creation */
    if (len > d->size || off > d->size - len)
        return 0;
    have = (uint64_t)(x->data_end - x->data);
    if ((uint64_t)off + len <= have)
        return (uint64_t)(uintptr_t)(x->data + off);
    if (!buf)
        return 0;
    /* bpf_xdp_copy_buf: what the linear part still has (no fragments here) */
    if (off < have)
        memcpy(buf, x->data + off, (size_t)(have - off));
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

/* long bpf_dynptr_read(void *dst, u32 len, const struct bpf_dynptr *src, u32 offset, u64 flags):
 * for an XDP dynptr __bpf_xdp_load_bytes, -EINVAL past the packet as it is now */
uint64_t dp_h_dynptr_read(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_dynptr *d = arg_dynptr(env, r3, DP_REGION_READ, "bpf_dynptr_read");
    uint32_t len = (uint32_t)r2, off = (uint32_t)r4;
    uint8_t *dst;
    struct dp_xdp_buff *x;
    int err;
    if (!d)
        return 0;
    dst = dp_env_mem(env, r1, len, DP_REGION_WRITE);
    if (!dst && len)
        return dp_env_fail(env, "bpf_dynptr_read: R1 is not %u bytes of writable memory", len);
    if (!d->xdp || r5)
        return (uint64_t)-EINVAL;
    if ((err = check_off_len(d, off, len)))
        return (uint64_t)(int64_t)err;
    x = d->xdp;
    if (off > 0xffff || len > 0xffff)
        return (uint64_t)-EFAULT;
    if ((uint64_t)off + len > (uint64_t)(x->data_end - x->data))
        return (uint64_t)-EINVAL;
    memcpy(dst, x->data + off, len);
    return 0;
}

/* long bpf_dynptr_write(const struct bpf_dynptr *dst, u32 offset, void *src, u32 len, u64 flags):
 * for an XDP dynptr __bpf_xdp_store_bytes */
uint64_t dp_h_dynptr_write(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_dynptr *d = arg_dynptr(env, r1, DP_REGION_READ, "bpf_dynptr_write");
    uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
    const uint8_t *src;
    struct dp_xdp_buff *x;
    int err;
    if (!d)
        return 0;
    src = dp_env_mem(env, r3, len, DP_REGION_READ);
    if (!src && len)
        return dp_env_fail(env, "bpf_dynptr_write: R3 is not %u bytes of memory", len);
    if (!d->xdp || (d->info & DYNPTR_RDONLY))
        return (uint64_t)-EINVAL;
    if ((err = check_off_len(d, off, len)))
        return (uint64_t)(int64_t)err;
    if (r5)
        return (uint64_t)-EINVAL;
    x = d->xdp;
    if (off > 0xffff || len > 0xffff)
        return (uint64_t)-EFAULT;
    if ((uint64_t)off + len > (uint64_t)(x->data_end - x->data))
        return (uint64_t)-EINVAL;
    memmove(x->data + off, src, len);
    return 0;
}

/* void *bpf_dynptr_data(const struct bpf_dynptr *ptr, u32 offset, u32 len):
 * NULL for XDP dynptrs (they are read through slices), as in the kernel */
uint64_t dp_h_dynptr_data(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r2; (void)r3; (void)r4; (void)r5;
    arg_dynptr(env, r1, DP_REGION_READ, "bpf_dynptr_data");
    return 0;
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
