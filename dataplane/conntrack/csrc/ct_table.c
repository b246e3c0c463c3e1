/* The hash table: buckets of dp_ct_node chains (two nodes per entry, one per
 * direction, as nf_conntrack_hash), striped spin locks, reference counting,
 * early drop, incremental GC.  Protocol semantics live in ct_proto.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ct_impl.h"

_Static_assert(sizeof(struct dp_ct_tuple) == 40, "tuple has padding");
_Static_assert(offsetof(struct dp_nf_conn, use) == DP_NF_CONN_OFF_USE, "use");
_Static_assert(offsetof(struct dp_nf_conn, timeout) == DP_NF_CONN_OFF_TIMEOUT, "timeout");
_Static_assert(offsetof(struct dp_nf_conn, status) == DP_NF_CONN_OFF_STATUS, "status");
_Static_assert(sizeof(unsigned long) == 8, "status is 8 bytes");
_Static_assert(offsetof(struct dp_nf_conn, mark) == DP_NF_CONN_OFF_MARK, "mark");
_Static_assert(offsetof(struct dp_nf_conn, tuplehash) == DP_NF_CONN_OFF_TUPLEHASH, "tuplehash");
_Static_assert(sizeof(struct dp_nf_conn) == DP_NF_CONN_SIZE, "size");

/* ---- statistics: striped per thread, summed at read (like per-cpu stats) -- */
static uint32_t ct_slot_next;
static __thread int ct_slot = -1;

static inline struct ct_stat_slot *ct_my_slot(struct dp_ct_table *t)
{
    if (__builtin_expect(ct_slot < 0, 0))
        ct_slot = (int)(__atomic_fetch_add(&ct_slot_next, 1u, __ATOMIC_RELAXED) % CT_STAT_SLOTS);
    return &t->stats[ct_slot];
}

void dp_ct_stat_inc(struct dp_ct_table *t, int which)
{
    __atomic_fetch_add(&ct_my_slot(t)->v[which], 1u, __ATOMIC_RELAXED);
}

static void ct_stat_add(struct dp_ct_table *t, int which, uint64_t n)
{
    if (n)
        __atomic_fetch_add(&ct_my_slot(t)->v[which], n, __ATOMIC_RELAXED);
}

void dp_ct_stats_read(struct dp_ct_table *t, struct dp_ct_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned s = 0; s < CT_STAT_SLOTS; s++)
        for (int i = 0; i < DP_CT_STAT_MAX; i++)
            out->v[i] += __atomic_load_n(&t->stats[s].v[i], __ATOMIC_RELAXED);
    out->entries = __atomic_load_n(&t->count, __ATOMIC_RELAXED);
    out->hashed = __atomic_load_n(&t->hashed, __ATOMIC_RELAXED);
}

/* ---- hashing -------------------------------------------------------------- */
static inline uint64_t ct_mix(uint64_t a, uint64_t b)
{
    __uint128_t m = (__uint128_t)(a ^ 0xa0761d6478bd642fULL) * (b ^ 0xe7037ed1a0b428dbULL);
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

uint32_t dp_ct_hash(const struct dp_ct_table *t, const struct dp_ct_tuple *tup)
{
    uint64_t w[5];
    memcpy(w, tup, sizeof(w));
    uint64_t h = ct_mix(w[0] ^ t->seed, w[1]);
    h = ct_mix(h ^ w[2], w[3]);
    h = ct_mix(h ^ w[4], 0x8ebc6af09c88c6e3ULL);
    return (uint32_t)(h ^ (h >> 32));
}

static inline int ct_tuple_eq(const struct dp_ct_tuple *a, const struct dp_ct_tuple *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

static inline struct dp_nf_conn *ct_of(struct dp_ct_node *n)
{
    return (struct dp_nf_conn *)((char *)(n - n->dir) - offsetof(struct dp_nf_conn, tuplehash));
}

static inline uint32_t *ct_lock_of(struct dp_ct_table *t, uint32_t bucket) { return &t->locks[bucket & (CT_NLOCKS - 1)]; }

/* Two buckets locked in stripe order so concurrent pair-lockers cannot deadlock. */
static void ct_lock_pair(struct dp_ct_table *t, uint32_t b0, uint32_t b1)
{
    uint32_t l0 = b0 & (CT_NLOCKS - 1), l1 = b1 & (CT_NLOCKS - 1);
    if (l0 == l1) {
        ct_spin_lock(&t->locks[l0]);
    } else if (l0 < l1) {
        ct_spin_lock(&t->locks[l0]);
        ct_spin_lock(&t->locks[l1]);
    } else {
        ct_spin_lock(&t->locks[l1]);
        ct_spin_lock(&t->locks[l0]);
    }
}

static void ct_unlock_pair(struct dp_ct_table *t, uint32_t b0, uint32_t b1)
{
    uint32_t l0 = b0 & (CT_NLOCKS - 1), l1 = b1 & (CT_NLOCKS - 1);
    ct_spin_unlock(&t->locks[l0]);
    if (l0 != l1)
        ct_spin_unlock(&t->locks[l1]);
}

/* ---- table lifetime ----------------------------------------------------------- */
static void ct_timeouts_default(struct dp_ct_timeouts *to)
{
    const uint64_t S = 1000000000ULL;
    memset(to, 0, sizeof(*to));
    to->tcp[TCP_CONNTRACK_SYN_SENT] = 120 * S;
    to->tcp[TCP_CONNTRACK_SYN_RECV] = 60 * S;
    to->tcp[TCP_CONNTRACK_ESTABLISHED] = 432000 * S;
    to->tcp[TCP_CONNTRACK_FIN_WAIT] = 120 * S;
    to->tcp[TCP_CONNTRACK_CLOSE_WAIT] = 60 * S;
    to->tcp[TCP_CONNTRACK_LAST_ACK] = 30 * S;
    to->tcp[TCP_CONNTRACK_TIME_WAIT] = 120 * S;
    to->tcp[TCP_CONNTRACK_CLOSE] = 10 * S;
    to->tcp[TCP_CONNTRACK_SYN_SENT2] = 120 * S;
    to->tcp[TCP_CONNTRACK_RETRANS] = 300 * S;
    to->tcp[TCP_CONNTRACK_UNACK] = 300 * S;
    to->udp_unreplied = 30 * S;
    to->udp_replied = 120 * S;
    to->icmp = 30 * S;
    to->generic = 600 * S;
}

struct dp_ct_table *dp_ct_table_create(uint32_t max_entries, const char *name)
{
    struct dp_ct_table *t;
    if (posix_memalign((void **)&t, 128, sizeof(*t)))
        return NULL;
    memset(t, 0, sizeof(*t));
    t->max_entries = max_entries ? max_entries : DP_CT_DEFAULT_MAX;
    uint32_t nb = 16;
    while (nb < t->max_entries && nb < (1u << 30))
        nb <<= 1;
    t->nbuckets = nb;
    t->mask = nb - 1;
    t->buckets = calloc(nb, sizeof(*t->buckets));
    t->locks = calloc(CT_NLOCKS, sizeof(*t->locks));
    if (!t->buckets || !t->locks || ct_slab_init(&t->slab, t->max_entries) != 0) {
        free(t->buckets);
        free(t->locks);
        free(t->slab.chunk);
        free(t);
        return NULL;
    }
    /* Per-table seed so chains are not predictable across tables/runs. */
    t->seed = (uint64_t)(uintptr_t)t * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t->buckets;
    t->refs = 1;
    t->hz = DP_CT_DEFAULT_HZ;
    ct_timeouts_default(&t->to);
    if (name)
        strncpy(t->name, name, sizeof(t->name) - 1);
    return t;
}

static void ct_table_free(struct dp_ct_table *t)
{
    ct_slab_destroy(&t->slab);
    free(t->buckets);
    free(t->locks);
    free(t);
}

static void ct_table_unref(struct dp_ct_table *t)
{
    if (__atomic_sub_fetch(&t->refs, 1u, __ATOMIC_ACQ_REL) == 0)
        ct_table_free(t);
}

void dp_ct_table_destroy(struct dp_ct_table *t)
{
    if (!t)
        return;
    dp_ct_flush(t);
    ct_table_unref(t);
}

uint32_t dp_ct_table_max(const struct dp_ct_table *t) { return t->max_entries; }
uint32_t dp_ct_table_buckets(const struct dp_ct_table *t) { return t->nbuckets; }
uint64_t dp_ct_table_capacity(const struct dp_ct_table *t) { return ct_slab_capacity(&t->slab); }

int dp_ct_table_reserve(struct dp_ct_table *t, uint32_t entries)
{
    /* the bucket array too: inserts write heads all over it */
    ct_prefault(t->buckets, (size_t)t->nbuckets * sizeof(*t->buckets));
    return ct_slab_reserve(&t->slab, entries);
}
void dp_ct_table_set_hz(struct dp_ct_table *t, uint32_t hz) { t->hz = hz ? hz : DP_CT_DEFAULT_HZ; }
uint32_t dp_ct_table_hz(const struct dp_ct_table *t) { return t->hz; }
uint64_t dp_ct_jiffies(const struct dp_ct_table *t, uint64_t ns) { return ct_ns_to_jiffies(ns, t->hz); }
uint64_t dp_ct_ms_to_jiffies(const struct dp_ct_table *t, uint64_t ms) { return ct_ms_to_jiffies(ms, t->hz); }
struct dp_ct_timeouts *dp_ct_table_timeouts(struct dp_ct_table *t) { return &t->to; }

/* ---- references ------------------------------------------------------------ */
void dp_ct_get(struct dp_nf_conn *ct) { __atomic_fetch_add(&ct->use, 1u, __ATOMIC_RELAXED); }

void dp_ct_put(struct dp_nf_conn *ct)
{
    if (!ct)
        return;
    if (__atomic_sub_fetch(&ct->use, 1u, __ATOMIC_ACQ_REL) != 0)
        return;
    struct dp_ct_table *t = ct->table;
    ct_slab_free(&t->slab, ct);
    __atomic_fetch_sub(&t->count, 1u, __ATOMIC_RELAXED);
    ct_table_unref(t);
}

/* ---- removal ------------------------------------------------------------- */
static void ct_unlink_node(struct dp_ct_table *t, struct dp_ct_node *n)
{
    struct dp_ct_node **pp = &t->buckets[n->hash & t->mask];
    while (*pp && *pp != n)
        pp = &(*pp)->next;
    if (*pp)
        *pp = n->next;
}

void ct_kill_claimed(struct dp_ct_table *t, struct dp_nf_conn *ct)
{
    uint32_t b0 = ct->tuplehash[0].hash & t->mask, b1 = ct->tuplehash[1].hash & t->mask;
    ct_lock_pair(t, b0, b1);
    int was = ct->hashed;
    if (was) {
        ct_unlink_node(t, &ct->tuplehash[0]);
        ct_unlink_node(t, &ct->tuplehash[1]);
        ct->hashed = 0;
    }
    ct_unlock_pair(t, b0, b1);
    if (was) {
        __atomic_fetch_sub(&t->hashed, 1u, __ATOMIC_RELAXED);
        dp_ct_put(ct); /* the table's reference */
    }
}

int dp_ct_delete(struct dp_ct_table *t, struct dp_nf_conn *ct)
{
    if (!__atomic_load_n(&ct->hashed, __ATOMIC_ACQUIRE) || !ct_test_and_set_bit(ct, IPS_DYING_BIT))
        return -ENOENT;
    ct_kill_claimed(t, ct);
    dp_ct_stat_inc(t, DP_CT_STAT_DELETE);
    return 0;
}

/* ---- lookup ----------------------------------------------------------------- */
struct dp_nf_conn *dp_ct_lookup(struct dp_ct_table *t, const struct dp_ct_tuple *tup, uint64_t now, int *dir)
{
    uint32_t b = dp_ct_hash(t, tup) & t->mask;
    struct dp_nf_conn *found = NULL, *stale = NULL;
    uint32_t *lock = ct_lock_of(t, b);

    ct_spin_lock(lock);
    for (struct dp_ct_node *n = t->buckets[b]; n; n = n->next) {
        if (!ct_tuple_eq(&n->tuple, tup))
            continue;
        struct dp_nf_conn *ct = ct_of(n);
        if (ct_test_bit(ct, IPS_DYING_BIT))
            continue;
        if (ct_expired(ct, now)) {
            /* As ____nf_conntrack_find: an expired entry is not returned
             * and is reclaimed on the spot. */
            if (!stale && ct_test_and_set_bit(ct, IPS_DYING_BIT))
                stale = ct;
            continue;
        }
        __atomic_fetch_add(&ct->use, 1u, __ATOMIC_RELAXED);
        if (dir)
            *dir = n->dir;
        found = ct;
        break;
    }
    ct_spin_unlock(lock);
    if (stale) {
        ct_kill_claimed(t, stale);
        dp_ct_stat_inc(t, DP_CT_STAT_EXPIRED);
    }
    dp_ct_stat_inc(t, DP_CT_STAT_SEARCHED);
    if (found)
        dp_ct_stat_inc(t, DP_CT_STAT_FOUND);
    return found;
}

/* ---- early drop (kernel early_drop: a non-ASSURED entry near our bucket) ---- */
static int ct_early_drop(struct dp_ct_table *t, uint32_t hash, uint64_t now)
{
    for (uint32_t i = 0; i < CT_EVICTION_RANGE; i++) {
        uint32_t b = (hash + i) & t->mask;
        struct dp_nf_conn *victim = NULL;
        int expired = 0;
        uint32_t *lock = ct_lock_of(t, b);
        ct_spin_lock(lock);
        for (struct dp_ct_node *n = t->buckets[b]; n; n = n->next) {
            struct dp_nf_conn *ct = ct_of(n);
            if (ct_test_bit(ct, IPS_DYING_BIT))
                continue;
            int exp = ct_expired(ct, now);
            if (!exp && ct_test_bit(ct, IPS_ASSURED_BIT))
                continue;
            if (ct_test_and_set_bit(ct, IPS_DYING_BIT)) {
                victim = ct;
                expired = exp;
                break;
            }
        }
        ct_spin_unlock(lock);
        if (victim) {
            ct_kill_claimed(t, victim);
            dp_ct_stat_inc(t, expired ? DP_CT_STAT_EXPIRED : DP_CT_STAT_EARLY_DROP);
            return 1;
        }
    }
    return 0;
}

/* ---- allocation and insertion ------------------------------------------------ */
struct dp_nf_conn *dp_ct_alloc(struct dp_ct_table *t, const struct dp_ct_tuple *orig,
                               const struct dp_ct_tuple *reply, uint64_t now, int *err)
{
    int e = 0;
    uint32_t h0 = dp_ct_hash(t, orig);
    uint32_t n = __atomic_add_fetch(&t->count, 1u, __ATOMIC_RELAXED);
    if (n > t->max_entries && !ct_early_drop(t, h0, now)) {
        __atomic_fetch_sub(&t->count, 1u, __ATOMIC_RELAXED);
        dp_ct_stat_inc(t, DP_CT_STAT_DROP);
        e = -ENOMEM;
        goto fail;
    }
    struct dp_nf_conn *ct = ct_slab_alloc(&t->slab);
    if (!ct) {
        __atomic_fetch_sub(&t->count, 1u, __ATOMIC_RELAXED);
        dp_ct_stat_inc(t, DP_CT_STAT_DROP);
        e = -ENOMEM;
        goto fail;
    }
    __atomic_fetch_add(&t->refs, 1u, __ATOMIC_RELAXED);
    ct->use = 1;
    ct->table = t;
    ct->status = IPS_BIT(IPS_CONFIRMED_BIT); /* as __bpf_nf_ct_alloc_entry */
    ct->zone = orig->zone;
    ct->l3 = orig->l3;
    ct->l4 = orig->l4;
    ct->tuplehash[0].tuple = *orig;
    ct->tuplehash[0].hash = h0;
    ct->tuplehash[0].dir = IP_CT_DIR_ORIGINAL;
    if (reply)
        ct->tuplehash[1].tuple = *reply;
    else
        dp_ct_invert(orig, &ct->tuplehash[1].tuple);
    ct->tuplehash[1].hash = dp_ct_hash(t, &ct->tuplehash[1].tuple);
    ct->tuplehash[1].dir = IP_CT_DIR_REPLY;
    /* an insert usually follows: start fetching its two buckets' heads now
     * (random lines of a large array) so they are cached by then */
    __builtin_prefetch(&t->buckets[h0 & t->mask]);
    __builtin_prefetch(&t->buckets[ct->tuplehash[1].hash & t->mask]);
    ct->zone_dir = 3; /* NF_CT_DEFAULT_ZONE_DIR */
    ct_set_expiry(ct, now + (uint64_t)DP_CT_ALLOC_TIMEOUT_MS * 1000000ULL);
    if (err)
        *err = 0;
    return ct;
fail:
    if (err)
        *err = e;
    return NULL;
}

/* Is `tup` present in bucket b (live)?  An expired live duplicate is
 * claimed into *stale (at most one per call) and does not count. */
static int ct_bucket_has(struct dp_ct_table *t, uint32_t b, const struct dp_ct_tuple *tup, uint64_t now,
                         struct dp_nf_conn **stale)
{
    for (struct dp_ct_node *n = t->buckets[b]; n; n = n->next) {
        if (!ct_tuple_eq(&n->tuple, tup))
            continue;
        struct dp_nf_conn *ct = ct_of(n);
        if (ct_test_bit(ct, IPS_DYING_BIT))
            continue;
        if (!*stale && ct_expired(ct, now) && ct_test_and_set_bit(ct, IPS_DYING_BIT)) {
            *stale = ct;
            continue;
        }
        return 1;
    }
    return 0;
}

int dp_ct_insert(struct dp_ct_table *t, struct dp_nf_conn *ct, uint64_t now)
{
    if (ct->hashed || ct_test_bit(ct, IPS_DYING_BIT))
        return -EINVAL;
    /* A BPF-allocated entry is unconfirmed with a relative timeout
     * (dp_ct_unconfirm): confirming makes it absolute (ct->timeout +=
     * nfct_time_stamp in __nf_conntrack_confirm). */
    if (!ct_test_bit(ct, IPS_CONFIRMED_BIT))
        ct_set_expiry(ct, now + ct_jiffies_to_ns(ct->timeout, t->hz));
    struct dp_nf_conn *stale[2] = {NULL, NULL};
    /* The tuples may have changed since alloc (set_nat_info): rehash. */
    ct->tuplehash[0].hash = dp_ct_hash(t, &ct->tuplehash[0].tuple);
    ct->tuplehash[1].hash = dp_ct_hash(t, &ct->tuplehash[1].tuple);
    uint32_t b0 = ct->tuplehash[0].hash & t->mask, b1 = ct->tuplehash[1].hash & t->mask;
    int ret = 0;

    /* Both chains' first nodes are random memory: fetch them in parallel
     * before the walks below visit them one after the other (a racy peek;
     * the walks run under the locks). */
    struct dp_ct_node *p0 = __atomic_load_n(&t->buckets[b0], __ATOMIC_RELAXED);
    struct dp_ct_node *p1 = __atomic_load_n(&t->buckets[b1], __ATOMIC_RELAXED);
    if (p0)
        __builtin_prefetch(p0);
    if (p1)
        __builtin_prefetch(p1);
    ct_lock_pair(t, b0, b1);
    if (ct_bucket_has(t, b0, &ct->tuplehash[0].tuple, now, &stale[0]) ||
        ct_bucket_has(t, b1, &ct->tuplehash[1].tuple, now, &stale[1])) {
        ret = -EEXIST;
    } else {
        __atomic_fetch_add(&ct->use, 1u, __ATOMIC_RELAXED); /* the table's reference */
        ct_set_bit(ct, IPS_CONFIRMED_BIT);
        ct->tuplehash[0].next = t->buckets[b0];
        t->buckets[b0] = &ct->tuplehash[0];
        ct->tuplehash[1].next = t->buckets[b1];
        t->buckets[b1] = &ct->tuplehash[1];
        __atomic_store_n(&ct->hashed, (uint8_t)1, __ATOMIC_RELEASE);
    }
    ct_unlock_pair(t, b0, b1);

    for (int i = 0; i < 2; i++) {
        if (stale[i]) {
            ct_kill_claimed(t, stale[i]);
            dp_ct_stat_inc(t, DP_CT_STAT_EXPIRED);
        }
    }
    if (ret == 0) {
        __atomic_fetch_add(&t->hashed, 1u, __ATOMIC_RELAXED);
        dp_ct_stat_inc(t, DP_CT_STAT_INSERT);
    } else {
        dp_ct_stat_inc(t, DP_CT_STAT_INSERT_FAILED);
    }
    return ret;
}

/* ---- GC, flush, listing -------------------------------------------------------- */
#define CT_BATCH 64

/* Claim (under the bucket lock) up to CT_BATCH entries of bucket b that are
 * expired (or all, if all_), then kill them unlocked. Returns the count. */
static uint32_t ct_reap_bucket(struct dp_ct_table *t, uint32_t b, uint64_t now, int all_, int *more)
{
    struct dp_nf_conn *victims[CT_BATCH];
    uint32_t nv = 0;
    uint32_t *lock = ct_lock_of(t, b);
    *more = 0;
    ct_spin_lock(lock);
    for (struct dp_ct_node *n = t->buckets[b]; n; n = n->next) {
        struct dp_nf_conn *ct = ct_of(n);
        if (ct_test_bit(ct, IPS_DYING_BIT))
            continue;
        if (!all_ && !ct_expired(ct, now))
            continue;
        if (nv == CT_BATCH) {
            *more = 1;
            break;
        }
        if (ct_test_and_set_bit(ct, IPS_DYING_BIT))
            victims[nv++] = ct;
    }
    ct_spin_unlock(lock);
    for (uint32_t i = 0; i < nv; i++)
        ct_kill_claimed(t, victims[i]);
    return nv;
}

uint32_t dp_ct_gc_step(struct dp_ct_table *t, uint64_t now, uint32_t budget)
{
    if (budget > t->nbuckets)
        budget = t->nbuckets;
    uint32_t start = __atomic_fetch_add(&t->gc_cursor, budget, __ATOMIC_RELAXED);
    uint32_t removed = 0;
    for (uint32_t i = 0; i < budget; i++) {
        int more;
        do
            removed += ct_reap_bucket(t, (start + i) & t->mask, now, 0, &more);
        while (more);
    }
    dp_ct_stat_inc(t, DP_CT_STAT_GC_RUNS);
    ct_stat_add(t, DP_CT_STAT_EXPIRED, removed);
    return removed;
}

uint32_t dp_ct_flush(struct dp_ct_table *t)
{
    uint32_t removed = 0;
    for (uint32_t b = 0; b < t->nbuckets; b++) {
        int more;
        do
            removed += ct_reap_bucket(t, b, DP_CT_NOW_ANY, 1, &more);
        while (more);
    }
    ct_stat_add(t, DP_CT_STAT_DELETE, removed);
    return removed;
}

long dp_ct_collect(struct dp_ct_table *t, uint64_t now, struct dp_nf_conn ***out)
{
    size_t cap = 64, n = 0;
    struct dp_nf_conn **arr = malloc(cap * sizeof(*arr));
    if (!arr)
        return -ENOMEM;
    for (uint32_t b = 0; b < t->nbuckets; b++) {
        if (!__atomic_load_n(&t->buckets[b], __ATOMIC_RELAXED))
            continue;
        uint32_t *lock = ct_lock_of(t, b);
        ct_spin_lock(lock);
        for (struct dp_ct_node *nd = t->buckets[b]; nd; nd = nd->next) {
            struct dp_nf_conn *ct = ct_of(nd);
            if (nd->dir != IP_CT_DIR_ORIGINAL || ct_test_bit(ct, IPS_DYING_BIT) || ct_expired(ct, now))
                continue;
            if (n == cap) {
                struct dp_nf_conn **na = realloc(arr, cap * 2 * sizeof(*arr));
                if (!na) {
                    ct_spin_unlock(lock);
                    for (size_t i = 0; i < n; i++)
                        dp_ct_put(arr[i]);
                    free(arr);
                    return -ENOMEM;
                }
                arr = na;
                cap *= 2;
            }
            __atomic_fetch_add(&ct->use, 1u, __ATOMIC_RELAXED);
            arr[n++] = ct;
        }
        ct_spin_unlock(lock);
    }
    *out = arr;
    return (long)n;
}
