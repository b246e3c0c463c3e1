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

/* The cookie core both helper families use: the MSS option (0: none), the
 * cookie of a SYN (*mss becomes the value it encodes), an ACK's cookie check. */
#define DP_SYNCOOKIE_MSS_CLAMP4 536             /* TCP_MSS_DEFAULT */
#define DP_SYNCOOKIE_MSS_CLAMP6 (1280 - 20 - 40) /* IPV6_MIN_MTU - headers */
uint16_t dp_syncookie_mss(const uint8_t *th);
uint32_t dp_syncookie_init(const uint8_t *iph, const uint8_t *th, uint16_t *mss, int v6);
int dp_syncookie_valid(const uint8_t *iph, const uint8_t *th, int v6);

#endif
