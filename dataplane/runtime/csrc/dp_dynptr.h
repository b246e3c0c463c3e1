/* struct bpf_dynptr as the runtime keeps it: 16 opaque bytes on the
 * program's stack (the verifier lets nothing else read or write them).
 * An XDP dynptr (kfuncs_dynptr.c) holds the XDP buffer; a local one
 * (bpf_dynptr_from_mem over a map value) and a ringbuf one
 * (bpf_ringbuf_reserve_dynptr: the reserved record) hold their memory
 * (helpers_dynptr_mem.c). A null dynptr is all zero (bpf_dynptr_set_null). */
#ifndef DP_DYNPTR_H
#define DP_DYNPTR_H

#include <stdint.h>

#include "dp_helpers.h"

/* enum bpf_dynptr_type */
#define DYNPTR_TYPE_LOCAL 1u
#define DYNPTR_TYPE_RINGBUF 2u
#define DYNPTR_TYPE_XDP 4u
#define DYNPTR_TYPE_MASK 0xffu
#define DYNPTR_RDONLY (1u << 31)
#define DYNPTR_MAX_SIZE ((1u << 24) - 1)

struct dp_dynptr {
    union {
        struct dp_xdp_buff *xdp;     /* DYNPTR_TYPE_XDP */
        uint8_t *data;               /* DYNPTR_TYPE_LOCAL, DYNPTR_TYPE_RINGBUF */
    };
    uint32_t size;                   /* fixed at creation, as the kernel's */
    uint32_t info;                   /* type | DYNPTR_RDONLY */
};

_Static_assert(sizeof(struct dp_dynptr) == 16, "struct bpf_dynptr is 16 bytes");

static inline uint32_t dp_dynptr_type(const struct dp_dynptr *d)
{
    return d->info & DYNPTR_TYPE_MASK;
}

/* a local or ringbuf dynptr: its bytes are plain memory */
static inline int dp_dynptr_is_mem(const struct dp_dynptr *d)
{
    return dp_dynptr_type(d) == DYNPTR_TYPE_LOCAL || dp_dynptr_type(d) == DYNPTR_TYPE_RINGBUF;
}

/* bpf_dynptr_read / _write / _data / bpf_dynptr_slice(_rdwr) of a local or
 * ringbuf dynptr (helpers_dynptr_mem.c) */
uint64_t dp_dynptr_mem_read(struct dp_env *env, uint8_t *dst, uint32_t len, struct dp_dynptr *d, uint32_t off,
                            uint64_t flags);
uint64_t dp_dynptr_mem_write(struct dp_env *env, struct dp_dynptr *d, uint32_t off, const uint8_t *src,
                             uint32_t len, uint64_t flags);
uint64_t dp_dynptr_mem_ptr(struct dp_env *env, struct dp_dynptr *d, uint32_t off, uint32_t len, int rdwr);

#endif /* DP_DYNPTR_H */
