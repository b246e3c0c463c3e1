/* String helpers: bpf_strncmp, bpf_strtol, bpf_strtoul (kernel/bpf/helpers.c
 * semantics, written here). The verifier proved the pointers of a verified
 * program; an unverified one has every byte checked (dp_env_mem). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "dp_helpers.h"

/* bpf_strncmp(s1, s1_sz, s2): the kernel's strncmp, which compares
 * unsigned bytes and answers -1, 0 or 1 (not the byte difference glibc
 * may return). s2 is a NUL-terminated constant (ARG_PTR_TO_CONST_STR). */
uint64_t dp_h_strncmp(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    const uint8_t *s1 = dp_env_mem(env, r1, r2, DP_REGION_READ);
    uint64_t i;
    (void)r4; (void)r5;
    if (!s1)
        return dp_env_fail(env, "bpf_strncmp: R1 invalid memory access");
    for (i = 0; i < (uint32_t)r2; i++) {
        const uint8_t *c2 = dp_env_mem(env, r3 + i, 1, DP_REGION_READ);
        if (!c2)
            return dp_env_fail(env, "bpf_strncmp: R3 is not a NUL-terminated string");
        if (s1[i] != *c2)
            return s1[i] < *c2 ? (uint64_t)-1 : 1;
        if (!s1[i])
            break;
    }
    return 0;
}

/* flags & BPF_STRTOX_BASE_MASK is the base: 0 (auto), 8, 10 or 16 */
#define BPF_STRTOX_BASE_MASK 0x1fu
#define DP_STRTOX_MAX 63u        /* the kernel parses a 64-byte copy of the digits */

static int is_space(uint8_t c)
{
    /* the kernel's isspace(): ASCII white space and Latin-1 NBSP */
    return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

static int digit_of(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return 99;
}

/* __bpf_strtoull: skip white space, an optional '-', the radix prefix of
 * base 0/16, then the digits; the bytes consumed, or -EINVAL (no digits,
 * bad flags or base) / -ERANGE (overflow). */
static int64_t strtoull_bpf(const uint8_t *buf, uint64_t len, uint64_t flags, uint64_t *res, int *neg)
{
    uint32_t base = (uint32_t)(flags & BPF_STRTOX_BASE_MASK);
    uint8_t str[DP_STRTOX_MAX + 1];
    uint64_t pos = 0, n, i, v = 0;
    int overflow = 0;
    if (!len)
        return -EINVAL;
    if ((base != 0 && base != 8 && base != 10 && base != 16) || (flags & ~(uint64_t)BPF_STRTOX_BASE_MASK))
        return -EINVAL;
    while (pos < len && is_space(buf[pos]))
        pos++;
    *neg = pos < len && buf[pos] == '-';
    if (*neg)
        pos++;
    if (pos == len)
        return -EINVAL;
    n = len - pos < DP_STRTOX_MAX ? len - pos : DP_STRTOX_MAX;
    memcpy(str, buf + pos, n);
    str[n] = 0;
    i = 0;
    /* _parse_integer_fixup_radix */
    if (base == 0) {
        if (str[0] == '0') {
            base = ((str[1] | 0x20) == 'x' && digit_of(str[2]) < 16) ? 16 : 8;
        } else {
            base = 10;
        }
    }
    if (base == 16 && str[0] == '0' && (str[1] | 0x20) == 'x')
        i = 2;
    pos += i;
    n = 0;
    /* _parse_integer: keeps counting digits after an overflow */
    for (; str[i]; i++, n++) {
        uint32_t d = (uint32_t)digit_of(str[i]);
        if (d >= base)
            break;
        if (v & (~0ull << 60)) {
            if (v > (UINT64_MAX - d) / base)
                overflow = 1;
        }
        v = v * base + d;
    }
    if (overflow)
        return -ERANGE;
    if (n == 0)
        return -EINVAL;
    *res = v;
    return (int64_t)(pos + n);
}

static uint64_t strtox(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, int is_signed,
                       const char *helper)
{
    const uint8_t *buf = dp_env_mem(env, r1, r2, DP_REGION_READ);
    uint64_t *res = dp_env_mem(env, r4, 8, DP_REGION_WRITE);
    uint64_t v = 0;
    int neg = 0;
    int64_t err;
    if (!buf)
        return dp_env_fail(env, "%s: R1 invalid memory access", helper);
    if (!res)
        return dp_env_fail(env, "%s: R4 invalid memory access", helper);
    *res = 0;    /* a failed call leaves 0 behind, as the kernel's does */
    err = strtoull_bpf(buf, (uint32_t)r2, r3, &v, &neg);
    if (err < 0)
        return (uint64_t)err;
    if (is_signed) {
        if (neg ? (int64_t)(0 - v) > 0 : (int64_t)v < 0)
            return (uint64_t)-ERANGE;
        *res = neg ? 0 - v : v;
    } else {
        if (neg)
            return (uint64_t)-EINVAL;
        *res = v;
    }
    return (uint64_t)err;
}

uint64_t dp_h_strtol(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r5;
    return strtox(env, r1, r2, r3, r4, 1, "bpf_strtol");
}

uint64_t dp_h_strtoul(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r5;
    return strtox(env, r1, r2, r3, r4, 0, "bpf_strtoul");
}
