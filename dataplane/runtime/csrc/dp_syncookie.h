/* The SYN cookie helpers' control side (helpers_syncookie.c), for the
 * helpers module: the secrets, the test clock shift and the SipHash the
 * cookies are made with. */
#ifndef DP_SYNCOOKIE_H
#define DP_SYNCOOKIE_H

#include <stddef.h>
#include <stdint.h>

void dp_syncookie_set_secret(const uint8_t *key64);  /* 64 bytes: IPv4 keys, then IPv6 keys */
extern int64_t dp_syncookie_minutes_offset;          /* tests: shift the cookie clock */
uint64_t dp_siphash(const uint8_t *data, size_t len, const uint64_t key[2]);

#endif
