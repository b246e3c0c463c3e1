/*
 * The raw SYN cookie helpers (bpf_tcp_raw_gen_syncookie_ipv4/ipv6,
 * bpf_tcp_raw_check_syncookie_ipv4/ipv6 of net/core/filter.c) with the
 * cookie of net/ipv4/syncookies.c and net/ipv6/syncookies.c:
 *
 *   cookie = H(k0; saddr, daddr, ports, 0) + seq + (count << 24)
 *            + ((H(k1; saddr, daddr, ports, count) + mssind) & 0xffffff)
 *
 * H is SipHash-2-4, count the minute (jiffies / (60 * HZ)), mssind the
 * index of the largest MSS table entry not above the client's MSS option.
 * A cookie checks if it is at most MAX_SYNCOOKIE_AGE - 1 minutes old and
 * decodes to a valid index. The kernel's secrets are random per boot and
 * unreadable, so the dataplane has its own, random per process (settable
 * for tests): cookies are valid only where they were made, as in the kernel.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dp_helpers.h"
#include "dp_siphash.h"
#include "dp_syncookie.h"

#define COOKIEBITS 24
#define COOKIEMASK ((1u << COOKIEBITS) - 1)
#define MAX_SYNCOOKIE_AGE 2
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOLEN_MSS 4

static const uint16_t msstab4[] = {536, 1300, 1440, 1460};
static const uint16_t msstab6[] = {1280 - 60, 1480 - 60, 1500 - 60, 9000 - 60};

/* syncookie_secret[2] and syncookie6_secret[2]: siphash keys, 2 x u64 each */
static uint64_t secret4[2][2], secret6[2][2];
static int secrets_ready;
int64_t dp_syncookie_minutes_offset;      /* tests: shift the cookie clock */

void dp_syncookie_set_secret(const uint8_t *key64)
{
    memcpy(secret4, key64, 32);
    memcpy(secret6, key64 + 32, 32);
    __atomic_store_n(&secrets_ready, 1, __ATOMIC_RELEASE);
}

static void ensure_secrets(void)
{
    uint8_t k[64];
    size_t got = 0;
    if (__atomic_load_n(&secrets_ready, __ATOMIC_ACQUIRE))
        return;
    while (got < sizeof(k)) {
        ssize_t n = getrandom(k + got, sizeof(k) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    /* racing first callers may both draw; the last write wins before any
     * cookie is handed out by either (both then read the final key) */
    dp_syncookie_set_secret(k);
}

/* SipHash-2-4 of len bytes (dp_siphash.h) */
uint64_t dp_siphash(const uint8_t *data, size_t len, const uint64_t key[2])
{
    return dp_siphash24(data, len, key[0], key[1]);
}

/* tcp_cookie_time(): jiffies64 / TCP_SYNCOOKIE_PERIOD (60 * HZ) */
static uint32_t cookie_time(void)
{
    struct timespec ts;
    uint64_t ns;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return (uint32_t)((int64_t)(ns / 60000000000ull) + dp_syncookie_minutes_offset);
}

/* cookie_hash of syncookies.c: siphash_4u32(saddr, daddr, sport << 16 | dport, count) */
static uint32_t hash4(const uint8_t *iph, const uint8_t *th, uint32_t count, int c)
{
    uint8_t buf[16];
    uint16_t sport, dport;
    uint32_t ports;
    memcpy(buf, iph + 12, 8);          /* saddr, daddr as stored (__be32) */
    memcpy(&sport, th, 2);             /* __be16 values, shifted as u32 */
    memcpy(&dport, th + 2, 2);
    ports = (uint32_t)sport << 16 | dport;
    memcpy(buf + 8, &ports, 4);
    memcpy(buf + 12, &count, 4);
    return (uint32_t)dp_siphash(buf, 16, secret4[c]);
}

/* IPv6: siphash of {saddr, daddr, u32 count, __be16 sport, __be16 dport} */
static uint32_t hash6(const uint8_t *ip6h, const uint8_t *th, uint32_t count, int c)
{
    uint8_t buf[40];
    memcpy(buf, ip6h + 8, 32);
    memcpy(buf + 32, &count, 4);
    memcpy(buf + 36, th, 4);
    return (uint32_t)dp_siphash(buf, 40, secret6[c]);
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* secure_tcp_syn_cookie / check_tcp_syn_cookie for one family */
static uint32_t make_cookie(const uint8_t *iph, const uint8_t *th, uint32_t sseq, uint32_t data, int v6)
{
    uint32_t count = cookie_time();
    uint32_t h0 = v6 ? hash6(iph, th, 0, 0) : hash4(iph, th, 0, 0);
    uint32_t h1 = v6 ? hash6(iph, th, count, 1) : hash4(iph, th, count, 1);
    return h0 + sseq + (count << COOKIEBITS) + ((h1 + data) & COOKIEMASK);
}

static uint32_t cookie_data(uint32_t cookie, const uint8_t *iph, const uint8_t *th, uint32_t sseq, int v6)
{
    uint32_t count = cookie_time(), diff;
    cookie -= (v6 ? hash6(iph, th, 0, 0) : hash4(iph, th, 0, 0)) + sseq;
    diff = (count - (cookie >> COOKIEBITS)) & ((uint32_t)-1 >> COOKIEBITS);
    if (diff >= MAX_SYNCOOKIE_AGE)
        return (uint32_t)-1;
    return (cookie - (v6 ? hash6(iph, th, count - diff, 1) : hash4(iph, th, count - diff, 1))) & COOKIEMASK;
}

/* tcp_parse_mss_option(th, 0): the MSS option's value, 0 without one */
static uint16_t parse_mss(const uint8_t *th)
{
    const uint8_t *ptr = th + 20;
    int length = (th[12] >> 4) * 4 - 20;
    uint16_t mss = 0;
    while (length > 0) {
        int opcode = *ptr++, opsize;
        if (opcode == TCPOPT_EOL)
            return mss;
        if (opcode == TCPOPT_NOP) {
            length--;
            continue;
        }
        if (length < 2)
            return mss;
        opsize = *ptr++;
        if (opsize < 2 || opsize > length)
            return mss;
        if (opcode == TCPOPT_MSS && opsize == TCPOLEN_MSS) {
            uint16_t in = (uint16_t)(ptr[0] << 8 | ptr[1]);
            if (in)
                mss = in;
        }
        ptr += opsize - 2;
        length -= opsize;
    }
    return mss;
}

static const uint8_t *mem(struct dp_env *env, uint64_t addr, uint64_t size, const char *helper, int argno)
{
    const uint8_t *p = dp_env_mem(env, addr, size, DP_REGION_READ);
    if (!p)
        dp_env_fail(env, "%s: R%d invalid memory access: %llu bytes at 0x%llx", helper, argno,
                    (unsigned long long)size, (unsigned long long)addr);
    return p;
}

uint16_t dp_syncookie_mss(const uint8_t *th)
{
    return parse_mss(th);
}

/* __cookie_v4_init_sequence / __cookie_v6_init_sequence: the cookie of a
 * SYN whose MSS is *mss, which becomes the table's value the cookie encodes */
uint32_t dp_syncookie_init(const uint8_t *iph, const uint8_t *th, uint16_t *mss, int v6)
{
    const uint16_t *tab = v6 ? msstab6 : msstab4;
    int ind;
    ensure_secrets();
    for (ind = 3; ind; ind--)
        if (*mss >= tab[ind])
            break;
    *mss = tab[ind];
    return make_cookie(iph, th, be32(th + 4), (uint32_t)ind, v6);
}

/* __cookie_v4_check / __cookie_v6_check > 0: the ACK carries a cookie made here */
int dp_syncookie_valid(const uint8_t *iph, const uint8_t *th, int v6)
{
    ensure_secrets();
    return cookie_data(be32(th + 8) - 1, iph, th, be32(th + 4) - 1, v6) < 4;
}

static uint64_t gen(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, int v6, const char *helper)
{
    const uint8_t *iph = mem(env, r1, v6 ? 40 : 20, helper, 1), *th;
    uint32_t th_len = (uint32_t)r3, cookie;
    uint16_t mss;
    if (!iph)
        return 0;
    th = th_len ? mem(env, r2, th_len, helper, 2) : (const uint8_t *)(uintptr_t)r2;
    if (th_len && !th)
        return 0;
    if (th_len < 20 || th_len != (uint32_t)(th[12] >> 4) * 4)
        return (uint64_t)-EINVAL;
    mss = parse_mss(th);
    if (!mss)
        mss = v6 ? DP_SYNCOOKIE_MSS_CLAMP6 : DP_SYNCOOKIE_MSS_CLAMP4;
    cookie = dp_syncookie_init(iph, th, &mss, v6);
    return cookie | ((uint64_t)mss << 32);
}

static uint64_t check(struct dp_env *env, uint64_t r1, uint64_t r2, int v6, const char *helper)
{
    const uint8_t *iph = mem(env, r1, v6 ? 40 : 20, helper, 1), *th = iph ? mem(env, r2, 20, helper, 2) : NULL;
    if (!th)
        return 0;
    return dp_syncookie_valid(iph, th, v6) ? 0 : (uint64_t)-EACCES;
}

uint64_t dp_h_tcp_raw_gen_syncookie_ipv4(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                         uint64_t r5)
{
    (void)r4; (void)r5;
    return gen(env, r1, r2, r3, 0, "bpf_tcp_raw_gen_syncookie_ipv4");
}

uint64_t dp_h_tcp_raw_gen_syncookie_ipv6(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                         uint64_t r5)
{
    (void)r4; (void)r5;
    return gen(env, r1, r2, r3, 1, "bpf_tcp_raw_gen_syncookie_ipv6");
}

uint64_t dp_h_tcp_raw_check_syncookie_ipv4(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                           uint64_t r5)
{
    (void)r3; (void)r4; (void)r5;
    return check(env, r1, r2, 0, "bpf_tcp_raw_check_syncookie_ipv4");
}

uint64_t dp_h_tcp_raw_check_syncookie_ipv6(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                           uint64_t r5)
{
    (void)r3; (void)r4; (void)r5;
    return check(env, r1, r2, 1, "bpf_tcp_raw_check_syncookie_ipv6");
}
