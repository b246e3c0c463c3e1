/* BLOOM_FILTER: a bitset probed by nr_hash_funcs seeds of jhash over the
 * value, with the sizing, hashing and errno values of the kernel's
 * kernel/bpf/bloom_filter.c, so that with BPF_F_ZERO_SEED the same values
 * give the same answers -- false positives included -- as the kernel's map.
 *
 * Keyless: programs push (bpf_map_push_elem, BPF_ANY only) and peek
 * (bpf_map_peek_elem: 0 "maybe present" or -ENOENT "certainly absent");
 * the syscall side updates as a push and looks up as a peek of the value
 * it is given.  Nothing is ever removed: pop, delete and iteration fail as
 * in the kernel.  Bits are set with atomic ORs, so concurrent pushes from
 * workers and the control plane never lose one. */
#include <sys/random.h>

#include "map_impl.h"

struct bloom {
    struct dp_map map;
    uint32_t mask;          /* bits - 1 (bits: a power of two, >= 64) */
    uint32_t seed;
    uint32_t nr_hash;
    uint32_t words32;       /* value_size / 4 when a multiple of 4 (jhash2), else 0 (jhash) */
    uint64_t *bits;
};

/* ---- jhash (include/linux/jhash.h, Bob Jenkins' lookup3) ---- */
#define DP_JHASH_INITVAL 0xdeadbeefu

static inline uint32_t rol32(uint32_t w, unsigned s) { return (w << s) | (w >> (32 - s)); }

#define JHASH_MIX(a, b, c)                            \
    do {                                              \
        a -= c; a ^= rol32(c, 4);  c += b;            \
        b -= a; b ^= rol32(a, 6);  a += c;            \
        c -= b; c ^= rol32(b, 8);  b += a;            \
        a -= c; a ^= rol32(c, 16); c += b;            \
        b -= a; b ^= rol32(a, 19); a += c;            \
        c -= b; c ^= rol32(b, 4);  b += a;            \
    } while (0)

#define JHASH_FINAL(a, b, c)                          \
    do {                                              \
        c ^= b; c -= rol32(b, 14);                    \
        a ^= c; a -= rol32(c, 11);                    \
        b ^= a; b -= rol32(a, 25);                    \
        c ^= b; c -= rol32(b, 16);                    \
        a ^= c; a -= rol32(c, 4);                     \
        b ^= a; b -= rol32(a, 14);                    \
        c ^= b; c -= rol32(b, 24);                    \
    } while (0)

static inline uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);     /* __get_unaligned_cpu32: host (little-endian) order */
    return v;
}

static uint32_t dp_jhash(const void *key, uint32_t length, uint32_t initval)
{
    const uint8_t *k = key;
    uint32_t a, b, c;
    a = b = c = DP_JHASH_INITVAL + length + initval;
    while (length > 12) {
        a += ld32(k);
        b += ld32(k + 4);
        c += ld32(k + 8);
        JHASH_MIX(a, b, c);
        length -= 12;
        k += 12;
    }
    /* the last 1..12 bytes, one at a time (the kernel's switch falls through) */
    switch (length) {
    case 12: c += (uint32_t)k[11] << 24; /* fall through */
    case 11: c += (uint32_t)k[10] << 16; /* fall through */
    case 10: c += (uint32_t)k[9] << 8;   /* fall through */
    case 9:  c += k[8];                  /* fall through */
    case 8:  b += (uint32_t)k[7] << 24;  /* fall through */
    case 7:  b += (uint32_t)k[6] << 16;  /* fall through */
    case 6:  b += (uint32_t)k[5] << 8;   /* fall through */
    case 5:  b += k[4];                  /* fall through */
    case 4:  a += (uint32_t)k[3] << 24;  /* fall through */
    case 3:  a += (uint32_t)k[2] << 16;  /* fall through */
    case 2:  a += (uint32_t)k[1] << 8;   /* fall through */
    case 1:  a += k[0];
        JHASH_FINAL(a, b, c);
        break;
    default: break;
    }
    return c;
}

static uint32_t dp_jhash2(const uint8_t *k, uint32_t words, uint32_t initval)
{
    uint32_t a, b, c;
    a = b = c = DP_JHASH_INITVAL + (words << 2) + initval;
    while (words > 3) {
        a += ld32(k);
        b += ld32(k + 4);
        c += ld32(k + 8);
        JHASH_MIX(a, b, c);
        words -= 3;
        k += 12;
    }
    switch (words) {
    case 3: c += ld32(k + 8); /* fall through */
    case 2: b += ld32(k + 4); /* fall through */
    case 1: a += ld32(k);
        JHASH_FINAL(a, b, c);
        break;
    default: break;
    }
    return c;
}

static inline uint32_t bloom_bit(const struct bloom *bf, const void *value, uint32_t i)
{
    uint32_t h = bf->words32 ? dp_jhash2(value, bf->words32, bf->seed + i)
                             : dp_jhash(value, bf->map.value_size, bf->seed + i);
    return h & bf->mask;
}

static long bloom_peek(struct dp_map *m, void *value)
{
    struct bloom *bf = (struct bloom *)m;
    for (uint32_t i = 0; i < bf->nr_hash; i++) {
        uint32_t h = bloom_bit(bf, value, i);
        if (!(__atomic_load_n(&bf->bits[h >> 6], __ATOMIC_RELAXED) & (1ULL << (h & 63))))
            return -ENOENT;
    }
    return 0;
}

static long bloom_push(struct dp_map *m, const void *value, uint64_t flags)
{
    struct bloom *bf = (struct bloom *)m;
    if (flags != DP_ANY)
        return -EINVAL;
    for (uint32_t i = 0; i < bf->nr_hash; i++) {
        uint32_t h = bloom_bit(bf, value, i);
        __atomic_fetch_or(&bf->bits[h >> 6], 1ULL << (h & 63), __ATOMIC_RELAXED);
    }
    return 0;
}

static long bloom_pop(struct dp_map *m, void *value) { (void)m; (void)value; return -EOPNOTSUPP; }
static long bloom_delete(struct dp_map *m, const void *k) { (void)m; (void)k; return -EOPNOTSUPP; }
static long bloom_next(struct dp_map *m, const void *k, void *n) { (void)m; (void)k; (void)n; return -EOPNOTSUPP; }
static long bloom_update_einval(struct dp_map *m, const void *k, const void *v, uint64_t f)
{
    (void)m; (void)k; (void)v; (void)f;
    return -EINVAL;     /* programs use bpf_map_push_elem */
}
/* BPF_MAP_LOOKUP_ELEM copies the value in from user space and peeks it */
static long bloom_sys_lookup(struct dp_map *m, const void *key, void *value) { (void)key; return bloom_peek(m, value); }
static long bloom_sys_update(struct dp_map *m, const void *key, const void *value, uint64_t flags)
{
    (void)key;
    return bloom_push(m, value, flags);
}

static void bloom_destroy(struct dp_map *m)
{
    free(((struct bloom *)m)->bits);
    free(m);
}

static const struct dp_map_ops bloom_ops = {
    .lookup = dp_lookup_null,
    .lookup_percpu = dp_lookup_percpu_null,
    .update = bloom_update_einval,
    .delete_elem = bloom_delete,
    .push = bloom_push,
    .pop = bloom_pop,
    .peek = bloom_peek,
    .get_next_key = bloom_next,
    .sys_lookup = bloom_sys_lookup,
    .sys_update = bloom_sys_update,
    .sys_delete = bloom_delete,
    .sys_lookup_and_delete = dp_lookup_and_delete_enotsupp,
    .destroy = bloom_destroy,
};

/* Bits for max_entries values and k hashes: n * k / ln 2 (7/5 for 1/ln 2),
 * at least 64, rounded up to a power of two; 2^32 when that overflows a u32
 * or passes 2^31 (bloom_map_alloc). */
uint64_t dp_bloom_bits(uint32_t max_entries, uint32_t nr_hash)
{
    uint64_t n = (uint64_t)max_entries * nr_hash;
    if (n > UINT32_MAX || (n / 5) * 7 > UINT32_MAX || (n / 5) * 7 > (1ULL << 31))
        return 1ULL << 32;
    n = (n / 5) * 7;
    if (n <= 64)
        return 64;
    uint64_t p = 128;
    while (p < n)
        p <<= 1;
    return p;
}

long dp_bloom_create(const struct dp_map_attr *a, struct dp_map **out)
{
    uint32_t f = a->map_flags;
    if (a->key_size != 0 || a->value_size == 0 || a->max_entries == 0 ||
        (f & ~(DP_F_NUMA_NODE | DP_F_ZERO_SEED | DP_F_ACCESS_MASK)) ||
        ((f & DP_F_RDONLY_PROG) && (f & DP_F_WRONLY_PROG)) || (a->map_extra & ~0xFULL))
        return -EINVAL;
    if (a->value_size > DP_KMALLOC_MAX_SIZE)
        return -E2BIG;
    uint32_t k = a->map_extra ? (uint32_t)a->map_extra : 5;   /* 5 hashes unless map_extra says */
    uint64_t nbits = dp_bloom_bits(a->max_entries, k);
    struct bloom *bf = calloc(1, sizeof(*bf));
    if (!bf)
        return -ENOMEM;
    dp_map_init_common(&bf->map, a);
    bf->bits = calloc(nbits / 64, sizeof(uint64_t));
    if (!bf->bits) {
        free(bf);
        return -ENOMEM;
    }
    bf->mask = (uint32_t)(nbits - 1);
    bf->nr_hash = k;
    bf->words32 = (a->value_size & 3) == 0 ? a->value_size / 4 : 0;
    if (!(f & DP_F_ZERO_SEED) && getrandom(&bf->seed, sizeof(bf->seed), 0) != sizeof(bf->seed))
        bf->seed = (uint32_t)rand();
    bf->map.ops = &bloom_ops;
    *out = &bf->map;
    return 0;
}
