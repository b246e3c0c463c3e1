/*
 * The checksum arithmetic of bpf_csum_diff: x86-64 csum_partial and the
 * 6.13+ csum_diff on top of it. One definition for the helper
 * (helpers_xdp.c, which checks the memory first) and JIT-compiled verified
 * code (dp_jit_helpers.h), so both engines compute the same bits.
 */
#ifndef DP_CSUM_H
#define DP_CSUM_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

/* The 512-byte limit of the kernel's old scratch buffer, kept. */
#define DP_CSUM_DIFF_MAX 512u

/* x86-64 csum_partial: 32-bit one's-complement sum with end-around carry,
 * of little-endian words, seeded. Summing in 64 bits and folding gives the
 * same 32-bit value as the kernel's adc loop (0 only when all is 0). Odd
 * start addresses are handled the kernel's way (rotate around the sum). */
static inline uint32_t dp_csum_add32c(uint32_t a, uint32_t b)
{
    uint64_t s = (uint64_t)a + b;
    return (uint32_t)s + (uint32_t)(s >> 32);
}

static inline uint32_t dp_csum_ror32(uint32_t v, unsigned s) { return (v >> s) | (v << (32 - s)); }

static inline uint32_t dp_csum_partial_do(const uint8_t *p, uint64_t len, uint32_t seed)
{
    uint64_t acc;
    uint32_t res;
    int odd = (int)((uintptr_t)p & 1);
    if (odd) {
        if (len == 0)
            return seed;
        acc = dp_csum_ror32(seed, 8);
        acc += (uint64_t)p[0] << 8;
        p++;
        len--;
    } else {
        acc = seed;
    }
    /* 32-bit chunks into a 64-bit accumulator: no overflow below 2^32 words */
    while (len >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        acc += w;
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t w;
        memcpy(&w, p, 2);
        acc += w;
        p += 2;
        len -= 2;
    }
    if (len)
        acc += p[0];
    res = dp_csum_add32c((uint32_t)acc, (uint32_t)(acc >> 32));
    if (odd)
        res = dp_csum_ror32(res, 8);
    return res;
}

/* bpf_csum_diff(from, from_size, to, to_size, seed) on checked memory,
 * sizes within DP_CSUM_DIFF_MAX. Since "bpf_csum_diff: optimize and
 * homogenize for all archs" (6.13) the kernel computes
 * csum_sub(csum_partial(to, seed), csum_partial(from, 0)) on the buffers
 * themselves (any size, no 4-byte rule) and returns it folded to 16 bits
 * (csum_from32to16, not complemented). Pinned against this machine's
 * kernel by tests/test_runtime_helpers.py. */
static inline uint64_t dp_csum_diff_do(const uint8_t *from, uint32_t fs, const uint8_t *to, uint32_t ts, uint32_t seed)
{
    uint32_t sum;
    if (!fs)          /* pushing data */
        sum = dp_csum_partial_do(to, ts, seed);
    else if (!ts)     /* pulling data */
        sum = ~dp_csum_partial_do(from, fs, ~seed);
    else
        sum = dp_csum_add32c(dp_csum_partial_do(to, ts, seed), ~dp_csum_partial_do(from, fs, 0));
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

#endif /* DP_CSUM_H */
