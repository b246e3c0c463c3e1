/*
 * RFC 9669 instruction semantics, one definition each.
 *
 * The interpreter (dp_interp_loop.h) and the C code the JIT will emit both
 * expand these, so the two engines cannot disagree on an edge case: division
 * by zero, INT_MIN / -1, shift masking, 32-bit zero extension, byte swaps.
 * Everything is a static inline function on uint64_t so a generated C file
 * can use it on plain locals and the compiler folds it to one or two
 * machine instructions.
 *
 * Host assumptions: little-endian, two's complement, arithmetic right shift
 * of signed values (GCC and Clang on x86-64 and arm64 guarantee the last).
 */
#ifndef DP_BPF_SEMANTICS_H
#define DP_BPF_SEMANTICS_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "dataplane's BPF semantics assume a little-endian host"
#endif

#define DP_INLINE static inline __attribute__((always_inline))
#define DP_LIKELY(x) __builtin_expect(!!(x), 1)
#define DP_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- 64-bit ALU ---------------------------------------------------------- */

DP_INLINE uint64_t dp_add64(uint64_t a, uint64_t b) { return a + b; }
DP_INLINE uint64_t dp_sub64(uint64_t a, uint64_t b) { return a - b; }
DP_INLINE uint64_t dp_mul64(uint64_t a, uint64_t b) { return a * b; }
DP_INLINE uint64_t dp_or64(uint64_t a, uint64_t b) { return a | b; }
DP_INLINE uint64_t dp_and64(uint64_t a, uint64_t b) { return a & b; }
DP_INLINE uint64_t dp_xor64(uint64_t a, uint64_t b) { return a ^ b; }
DP_INLINE uint64_t dp_mov64(uint64_t a, uint64_t b) { (void)a; return b; }
DP_INLINE uint64_t dp_neg64(uint64_t a) { return (uint64_t)0 - a; }
/* Shift amounts are masked to the operand width (RFC 9669 4.1). */
DP_INLINE uint64_t dp_lsh64(uint64_t a, uint64_t b) { return a << (b & 63); }
DP_INLINE uint64_t dp_rsh64(uint64_t a, uint64_t b) { return a >> (b & 63); }
DP_INLINE uint64_t dp_arsh64(uint64_t a, uint64_t b) { return (uint64_t)((int64_t)a >> (b & 63)); }

/* Division by zero yields 0; modulo by zero leaves the dividend. */
DP_INLINE uint64_t dp_div64(uint64_t a, uint64_t b) { return b ? a / b : 0; }
DP_INLINE uint64_t dp_mod64(uint64_t a, uint64_t b) { return b ? a % b : a; }
/* Signed forms (offset 1). INT64_MIN / -1 would trap in C: RFC 9669 wants the
 * wrapped quotient (INT64_MIN) and a remainder of 0; negation in unsigned
 * arithmetic gives both without UB. The remainder takes the dividend's sign
 * (truncating division), as C's % does. */
DP_INLINE uint64_t dp_sdiv64(uint64_t a, uint64_t b)
{
    if (b == 0) return 0;
    if ((int64_t)b == -1) return (uint64_t)0 - a;
    return (uint64_t)((int64_t)a / (int64_t)b);
}
DP_INLINE uint64_t dp_smod64(uint64_t a, uint64_t b)
{
    if (b == 0) return a;
    if ((int64_t)b == -1) return 0;
    return (uint64_t)((int64_t)a % (int64_t)b);
}

/* ---- 32-bit ALU: operate on the low halves, zero-extend the result ------- */

DP_INLINE uint64_t dp_add32(uint64_t a, uint64_t b) { return (uint32_t)((uint32_t)a + (uint32_t)b); }
DP_INLINE uint64_t dp_sub32(uint64_t a, uint64_t b) { return (uint32_t)((uint32_t)a - (uint32_t)b); }
DP_INLINE uint64_t dp_mul32(uint64_t a, uint64_t b) { return (uint32_t)((uint32_t)a * (uint32_t)b); }
DP_INLINE uint64_t dp_or32(uint64_t a, uint64_t b) { return (uint32_t)a | (uint32_t)b; }
DP_INLINE uint64_t dp_and32(uint64_t a, uint64_t b) { return (uint32_t)a & (uint32_t)b; }
DP_INLINE uint64_t dp_xor32(uint64_t a, uint64_t b) { return (uint32_t)a ^ (uint32_t)b; }
DP_INLINE uint64_t dp_mov32(uint64_t a, uint64_t b) { (void)a; return (uint32_t)b; }
DP_INLINE uint64_t dp_neg32(uint64_t a) { return (uint32_t)((uint32_t)0 - (uint32_t)a); }
DP_INLINE uint64_t dp_lsh32(uint64_t a, uint64_t b) { return (uint32_t)((uint32_t)a << (b & 31)); }
DP_INLINE uint64_t dp_rsh32(uint64_t a, uint64_t b) { return (uint32_t)a >> (b & 31); }
DP_INLINE uint64_t dp_arsh32(uint64_t a, uint64_t b) { return (uint32_t)((int32_t)(uint32_t)a >> (b & 31)); }
DP_INLINE uint64_t dp_div32(uint64_t a, uint64_t b)
{
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return y ? x / y : 0;
}
/* mod by zero keeps the low half of dst and, being a 32-bit op, zeroes the rest */
DP_INLINE uint64_t dp_mod32(uint64_t a, uint64_t b)
{
    uint32_t x = (uint32_t)a, y = (uint32_t)b;
    return y ? x % y : x;
}
DP_INLINE uint64_t dp_sdiv32(uint64_t a, uint64_t b)
{
    int32_t x = (int32_t)(uint32_t)a, y = (int32_t)(uint32_t)b;
    if (y == 0) return 0;
    if (y == -1) return (uint32_t)((uint32_t)0 - (uint32_t)x);
    return (uint32_t)(x / y);
}
DP_INLINE uint64_t dp_smod32(uint64_t a, uint64_t b)
{
    int32_t x = (int32_t)(uint32_t)a, y = (int32_t)(uint32_t)b;
    if (y == 0) return (uint32_t)x;
    if (y == -1) return 0;
    return (uint32_t)(x % y);
}

/* ---- sign-extending moves (MOV with offset 8/16/32) ---------------------- */

DP_INLINE uint64_t dp_movsx64_8(uint64_t a) { return (uint64_t)(int64_t)(int8_t)a; }
DP_INLINE uint64_t dp_movsx64_16(uint64_t a) { return (uint64_t)(int64_t)(int16_t)a; }
DP_INLINE uint64_t dp_movsx64_32(uint64_t a) { return (uint64_t)(int64_t)(int32_t)a; }
DP_INLINE uint64_t dp_movsx32_8(uint64_t a) { return (uint32_t)(int32_t)(int8_t)a; }
DP_INLINE uint64_t dp_movsx32_16(uint64_t a) { return (uint32_t)(int32_t)(int16_t)a; }

/* ---- byte order ---------------------------------------------------------- */

/* ALU|END: convert to the named byte order and truncate to the width. On a
 * little-endian host "le" is only the truncation. */
DP_INLINE uint64_t dp_le16(uint64_t a) { return (uint16_t)a; }
DP_INLINE uint64_t dp_le32(uint64_t a) { return (uint32_t)a; }
DP_INLINE uint64_t dp_le64(uint64_t a) { return a; }
DP_INLINE uint64_t dp_be16(uint64_t a) { return __builtin_bswap16((uint16_t)a); }
DP_INLINE uint64_t dp_be32(uint64_t a) { return __builtin_bswap32((uint32_t)a); }
DP_INLINE uint64_t dp_be64(uint64_t a) { return __builtin_bswap64(a); }
/* ALU64|END (bswap): unconditional swap, same truncation. */
DP_INLINE uint64_t dp_bswap16(uint64_t a) { return __builtin_bswap16((uint16_t)a); }
DP_INLINE uint64_t dp_bswap32(uint64_t a) { return __builtin_bswap32((uint32_t)a); }
DP_INLINE uint64_t dp_bswap64(uint64_t a) { return __builtin_bswap64(a); }

/* ---- jump conditions ----------------------------------------------------- */

DP_INLINE int dp_jeq64(uint64_t a, uint64_t b) { return a == b; }
DP_INLINE int dp_jne64(uint64_t a, uint64_t b) { return a != b; }
DP_INLINE int dp_jgt64(uint64_t a, uint64_t b) { return a > b; }
DP_INLINE int dp_jge64(uint64_t a, uint64_t b) { return a >= b; }
DP_INLINE int dp_jlt64(uint64_t a, uint64_t b) { return a < b; }
DP_INLINE int dp_jle64(uint64_t a, uint64_t b) { return a <= b; }
DP_INLINE int dp_jset64(uint64_t a, uint64_t b) { return (a & b) != 0; }
DP_INLINE int dp_jsgt64(uint64_t a, uint64_t b) { return (int64_t)a > (int64_t)b; }
DP_INLINE int dp_jsge64(uint64_t a, uint64_t b) { return (int64_t)a >= (int64_t)b; }
DP_INLINE int dp_jslt64(uint64_t a, uint64_t b) { return (int64_t)a < (int64_t)b; }
DP_INLINE int dp_jsle64(uint64_t a, uint64_t b) { return (int64_t)a <= (int64_t)b; }

DP_INLINE int dp_jeq32(uint64_t a, uint64_t b) { return (uint32_t)a == (uint32_t)b; }
DP_INLINE int dp_jne32(uint64_t a, uint64_t b) { return (uint32_t)a != (uint32_t)b; }
DP_INLINE int dp_jgt32(uint64_t a, uint64_t b) { return (uint32_t)a > (uint32_t)b; }
DP_INLINE int dp_jge32(uint64_t a, uint64_t b) { return (uint32_t)a >= (uint32_t)b; }
DP_INLINE int dp_jlt32(uint64_t a, uint64_t b) { return (uint32_t)a < (uint32_t)b; }
DP_INLINE int dp_jle32(uint64_t a, uint64_t b) { return (uint32_t)a <= (uint32_t)b; }
DP_INLINE int dp_jset32(uint64_t a, uint64_t b) { return ((uint32_t)a & (uint32_t)b) != 0; }
DP_INLINE int dp_jsgt32(uint64_t a, uint64_t b) { return (int32_t)(uint32_t)a > (int32_t)(uint32_t)b; }
DP_INLINE int dp_jsge32(uint64_t a, uint64_t b) { return (int32_t)(uint32_t)a >= (int32_t)(uint32_t)b; }
DP_INLINE int dp_jslt32(uint64_t a, uint64_t b) { return (int32_t)(uint32_t)a < (int32_t)(uint32_t)b; }
DP_INLINE int dp_jsle32(uint64_t a, uint64_t b) { return (int32_t)(uint32_t)a <= (int32_t)(uint32_t)b; }

/* ---- memory -------------------------------------------------------------- */

/* Unaligned-safe accesses: BPF allows packet loads at any offset. memcpy with
 * a constant size compiles to a single mov. */
DP_INLINE uint64_t dp_ld8(const void *p) { return *(const uint8_t *)p; }
DP_INLINE uint64_t dp_ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }
DP_INLINE uint64_t dp_ld32(const void *p) { uint32_t v; memcpy(&v, p, 4); return v; }
DP_INLINE uint64_t dp_ld64(const void *p) { uint64_t v; memcpy(&v, p, 8); return v; }
DP_INLINE uint64_t dp_ldsx8(const void *p) { return (uint64_t)(int64_t)*(const int8_t *)p; }
DP_INLINE uint64_t dp_ldsx16(const void *p) { int16_t v; memcpy(&v, p, 2); return (uint64_t)(int64_t)v; }
DP_INLINE uint64_t dp_ldsx32(const void *p) { int32_t v; memcpy(&v, p, 4); return (uint64_t)(int64_t)v; }
DP_INLINE void dp_st8(void *p, uint64_t v) { *(uint8_t *)p = (uint8_t)v; }
DP_INLINE void dp_st16(void *p, uint64_t v) { uint16_t x = (uint16_t)v; memcpy(p, &x, 2); }
DP_INLINE void dp_st32(void *p, uint64_t v) { uint32_t x = (uint32_t)v; memcpy(p, &x, 4); }
DP_INLINE void dp_st64(void *p, uint64_t v) { memcpy(p, &v, 8); }

/* Legacy packet loads (LD_ABS / LD_IND): big-endian, from the packet. The
 * offset is a 32-bit signed int as in the kernel (bpf_skb_load_helper);
 * dp_pkt_in() false means the whole program ends with r0 = 0. */
DP_INLINE int dp_pkt_in(uint32_t off, uint32_t size, uint64_t pkt_len)
{
    return (int32_t)off >= 0 && (uint64_t)off + size <= pkt_len;
}
DP_INLINE uint64_t dp_pkt_load1(const uint8_t *p) { return p[0]; }
DP_INLINE uint64_t dp_pkt_load2(const uint8_t *p) { return dp_be16(dp_ld16(p)); }
DP_INLINE uint64_t dp_pkt_load4(const uint8_t *p) { return dp_be32(dp_ld32(p)); }

/* Atomics (STX|ATOMIC). Maps are shared between workers, so these are real
 * sequentially-consistent atomics, as the kernel's are. Each returns the old
 * value (zero-extended for the 32-bit forms); the caller decides whether the
 * FETCH flag puts it into src. */
DP_INLINE uint64_t dp_atomic_add32(void *p, uint64_t v) { return __atomic_fetch_add((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_or32(void *p, uint64_t v) { return __atomic_fetch_or((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_and32(void *p, uint64_t v) { return __atomic_fetch_and((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_xor32(void *p, uint64_t v) { return __atomic_fetch_xor((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_xchg32(void *p, uint64_t v) { return __atomic_exchange_n((uint32_t *)p, (uint32_t)v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_add64(void *p, uint64_t v) { return __atomic_fetch_add((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_or64(void *p, uint64_t v) { return __atomic_fetch_or((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_and64(void *p, uint64_t v) { return __atomic_fetch_and((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_xor64(void *p, uint64_t v) { return __atomic_fetch_xor((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
DP_INLINE uint64_t dp_atomic_xchg64(void *p, uint64_t v) { return __atomic_exchange_n((uint64_t *)p, v, __ATOMIC_SEQ_CST); }
/* cmpxchg compares with r0 (low 32 bits for the 32-bit form), stores src on
 * a match, and always returns the old value, which lands in r0. */
DP_INLINE uint64_t dp_atomic_cmpxchg32(void *p, uint64_t expected, uint64_t v)
{
    uint32_t e = (uint32_t)expected;
    __atomic_compare_exchange_n((uint32_t *)p, &e, (uint32_t)v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return e;
}
DP_INLINE uint64_t dp_atomic_cmpxchg64(void *p, uint64_t expected, uint64_t v)
{
    uint64_t e = expected;
    __atomic_compare_exchange_n((uint64_t *)p, &e, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return e;
}

#endif /* DP_BPF_SEMANTICS_H */
