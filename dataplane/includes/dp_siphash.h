/*
 * dp_siphash.h - SipHash-2-4, the kernel's siphash() of lib/siphash.c
 * (little-endian 64-bit words, a 128-bit key k0:k1), for the places that
 * must produce the kernel's very hash values: SYN cookies (cookie_hash,
 * runtime/csrc/helpers_syncookie.c) and the IPv4 multipath hash
 * (flow_hash_from_keys_seed, net/csrc/mphash.c). One copy, inline, as the
 * two live in different extensions.
 */
#ifndef DP_SIPHASH_H
#define DP_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t dp_siphash_rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define DP_SIPROUND                                                                                \
    do {                                                                                           \
        v0 += v1; v1 = dp_siphash_rotl(v1, 13); v1 ^= v0; v0 = dp_siphash_rotl(v0, 32);            \
        v2 += v3; v3 = dp_siphash_rotl(v3, 16); v3 ^= v2;                                          \
        v0 += v3; v3 = dp_siphash_rotl(v3, 21); v3 ^= v0;                                          \
        v2 += v1; v1 = dp_siphash_rotl(v1, 17); v1 ^= v2; v2 = dp_siphash_rotl(v2, 32);            \
    } while (0)

static inline uint64_t dp_siphash24(const uint8_t *data, size_t len, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56, m;
    size_t i, end = len - len % 8;
    for (i = 0; i < end; i += 8) {
        memcpy(&m, data + i, 8);
        v3 ^= m;
        DP_SIPROUND;
        DP_SIPROUND;
        v0 ^= m;
    }
    for (i = 0; i < len % 8; i++)
        b |= (uint64_t)data[end + i] << (8 * i);
    v3 ^= b;
    DP_SIPROUND;
    DP_SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    DP_SIPROUND;
    DP_SIPROUND;
    DP_SIPROUND;
    DP_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

#undef DP_SIPROUND

#endif
