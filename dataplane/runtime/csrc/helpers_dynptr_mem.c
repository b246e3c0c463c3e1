/* Local and ringbuf dynptrs (kernel/bpf/helpers.c bpf_dynptr_from_mem,
 * kernel/bpf/ringbuf.c bpf_ringbuf_reserve_dynptr / _submit_dynptr /
 * _discard_dynptr) and what bpf_dynptr_read / _write / _data and the slice
 * kfuncs do on them (kfuncs_dynptr.c hands those here): the bytes are plain
 * memory, a map value or a reserved ring buffer record. A failed creation
 * leaves a null dynptr, which a ringbuf one still has to be submitted or
 * discarded as (the verifier's reference); that is then a no-op. */
#include <errno.h>
#include <string.h>

#include "dp_dynptr.h"

static struct dp_dynptr *dynptr_out(struct dp_env *env, uint64_t addr, const char *fn)
{
    struct dp_dynptr *d = dp_env_mem(env, addr, sizeof(*d), DP_REGION_RW);
    if (!d)
        dp_env_fail(env, "%s: the dynptr argument is not 16 bytes of program memory", fn);
    return d;
}

/* bpf_dynptr_check_off_len */
static int off_len_ok(const struct dp_dynptr *d, uint32_t off, uint32_t len)
{
    return len <= d->size && off <= d->size - len;
}

/* the bytes [off, off + len) of a local or ringbuf dynptr: program memory
 * (checked runs: a region; a forged dynptr faults here instead) */
static uint8_t *bytes_of(struct dp_env *env, struct dp_dynptr *d, uint32_t off, uint32_t len, const char *fn)
{
    uint8_t *p = dp_env_mem(env, (uint64_t)(uintptr_t)(d->data + off), len ? len : 1, DP_REGION_RW);
    if (!p)
        dp_env_fail(env, "%s: the dynptr's memory is not this program's", fn);
    return p;
}

/* long bpf_dynptr_from_mem(void *data, u32 size, u64 flags, struct bpf_dynptr *ptr) */
uint64_t dp_h_dynptr_from_mem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_dynptr *d = dynptr_out(env, r4, "bpf_dynptr_from_mem");
    uint32_t size = (uint32_t)r2;
    (void)r5;
    if (!d)
        return 0;
    memset(d, 0, sizeof(*d));
    if (r3)
        return (uint64_t)-EINVAL;
    if (size > DYNPTR_MAX_SIZE)
        return (uint64_t)-E2BIG;
    if (size && !dp_env_mem(env, r1, size, DP_REGION_RW))
        return dp_env_fail(env, "bpf_dynptr_from_mem: R1 is not %u bytes of writable memory", size);
    d->data = (uint8_t *)(uintptr_t)r1;
    d->size = size;
    d->info = DYNPTR_TYPE_LOCAL;
    return 0;
}

/* long bpf_ringbuf_reserve_dynptr(void *ringbuf, u32 size, u64 flags, struct bpf_dynptr *ptr) */
uint64_t dp_h_ringbuf_reserve_dynptr(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                     uint64_t r5)
{
    struct dp_map *m = dp_ring_arg(env, r1, "bpf_ringbuf_reserve_dynptr");
    struct dp_dynptr *d = m ? dynptr_out(env, r4, "bpf_ringbuf_reserve_dynptr") : NULL;
    uint32_t size = (uint32_t)r2;
    void *p;
    (void)r5;
    if (!d)
        return 0;
    memset(d, 0, sizeof(*d));
    if (r3)
        return (uint64_t)-EINVAL;
    if (size > DYNPTR_MAX_SIZE)
        return (uint64_t)-E2BIG;
    p = dp_ringbuf_reserve(m, size, 0);
    if (!p)
        return (uint64_t)-EINVAL;
    /* the record is a region of this run (an empty one still a byte, so that
     * submit can tell it from a forged pointer) */
    if (dp_env_add_region(env, p, size ? size : 1, DP_REGION_RW, 0) != 0)
        return dp_env_fail(env, "bpf_ringbuf_reserve_dynptr: too many memory regions");
    d->data = p;
    d->size = size;
    d->info = DYNPTR_TYPE_RINGBUF;
    return 0;
}

/* bpf_ringbuf_submit_dynptr / _discard_dynptr(struct bpf_dynptr *ptr, u64 flags) */
static uint64_t ringbuf_end(struct dp_env *env, uint64_t r1, uint64_t flags, int discard, const char *fn)
{
    struct dp_dynptr *d = dynptr_out(env, r1, fn);
    if (!d || !d->data)
        return 0;
    if (dp_dynptr_type(d) != DYNPTR_TYPE_RINGBUF || !dp_env_find(env, (uint64_t)(uintptr_t)d->data, 1, DP_REGION_RW))
        return dp_env_fail(env, "%s: R1 is not a ringbuf dynptr of this run", fn);
    if (discard)
        dp_ringbuf_discard(d->data, flags);
    else
        dp_ringbuf_submit(d->data, flags);
    memset(d, 0, sizeof(*d));
    return 0;
}

uint64_t dp_h_ringbuf_submit_dynptr(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                    uint64_t r5)
{
    (void)r3; (void)r4; (void)r5;
    return ringbuf_end(env, r1, r2, 0, "bpf_ringbuf_submit_dynptr");
}

uint64_t dp_h_ringbuf_discard_dynptr(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                     uint64_t r5)
{
    (void)r3; (void)r4; (void)r5;
    return ringbuf_end(env, r1, r2, 1, "bpf_ringbuf_discard_dynptr");
}

/* __bpf_dynptr_read: the caller checked a null dynptr and flags */
uint64_t dp_dynptr_mem_read(struct dp_env *env, uint8_t *dst, uint32_t len, struct dp_dynptr *d, uint32_t off,
                            uint64_t flags)
{
    uint8_t *p;
    (void)flags;
    if (!off_len_ok(d, off, len))
        return (uint64_t)-E2BIG;
    if (!(p = bytes_of(env, d, off, len, "bpf_dynptr_read")))
        return 0;
    memmove(dst, p, len);     /* two dynptrs may cover overlapping memory */
    return 0;
}

/* __bpf_dynptr_write: the caller checked a null or read-only dynptr */
uint64_t dp_dynptr_mem_write(struct dp_env *env, struct dp_dynptr *d, uint32_t off, const uint8_t *src,
                             uint32_t len, uint64_t flags)
{
    uint8_t *p;
    if (!off_len_ok(d, off, len))
        return (uint64_t)-E2BIG;
    if (flags)
        return (uint64_t)-EINVAL;
    if (!(p = bytes_of(env, d, off, len, "bpf_dynptr_write")))
        return 0;
    memmove(p, src, len);
    return 0;
}

/* bpf_dynptr_data and the slice kfuncs: the bytes in place, NULL out of
 * range; rdwr (bpf_dynptr_data, bpf_dynptr_slice_rdwr): NULL when read-only */
uint64_t dp_dynptr_mem_ptr(struct dp_env *env, struct dp_dynptr *d, uint32_t off, uint32_t len, int rdwr)
{
    if (!off_len_ok(d, off, len) || (rdwr && (d->info & DYNPTR_RDONLY)))
        return 0;
    return (uint64_t)(uintptr_t)bytes_of(env, d, off, len, "bpf_dynptr_data");
}
