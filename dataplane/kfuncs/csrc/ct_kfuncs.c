/* Conntrack kfuncs: see ct_kfuncs.h for the contract. */
#include "ct_kfuncs.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "dp_helpers.h"

#define KF_OPTS_SZ_OLD 12u
#define KF_OPTS_SZ 16u          /* NF_BPF_CT_OPTS_SZ */
#define KF_TUPLE_V4 12u         /* sizeof(bpf_tuple->ipv4) */
#define KF_TUPLE_V6 36u         /* sizeof(bpf_tuple->ipv6) */
#define KF_DEFAULT_ZONE_DIR 3u  /* NF_CT_DEFAULT_ZONE_DIR */

/* struct bpf_ct_opts field offsets */
#define O_NETNS 0
#define O_ERROR 4
#define O_L4PROTO 8
#define O_DIR 9
#define O_ZONE_ID 10
#define O_ZONE_DIR 12
#define O_RESERVED 13

/* The kernel's conntrack clock is jiffies (nfct_time_stamp): a tick
 * counter, read from memory. CLOCK_MONOTONIC_COARSE is the same tick-
 * resolution clock, also a memory read (vDSO), where CLOCK_MONOTONIC reads
 * the TSC -- ~100 ns in a VM that traps it, three times per insert. It
 * trails CLOCK_MONOTONIC by less than a tick; bpf_jiffies64 counts it too. */
uint64_t dp_kf_ct_now(const struct dp_kf_ct *k)
{
    struct timespec ts;
    if (k && k->now)
        return k->now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct dp_kf_ct *kf_ctx(struct dp_env *env)
{
    struct dp_rt *rt = env->user;
    struct dp_kf_ct *k = rt ? rt->ct : NULL;
    if (!k || !k->table || !k->api) {
        dp_env_fail(env, "conntrack kfunc called without a conntrack table");
        return NULL;
    }
    return k;
}

/* Checked runs (interpreter, checked JIT: env->trusted == 0) have no
 * verifier reference tracking behind them, so the kfuncs keep their own:
 * every nf_conn handed out gets two dynamic regions (the entry readable,
 * its mark writable -- the verifier allows nothing else), tagged
 * KF_HELD_TAG, with the number of references this run holds in the low
 * bits of the READ region's kind.  Releasing the last one drops the
 * regions, so a use after release faults instead of reading freed (or
 * reused) memory, and releasing, inserting or changing a pointer the
 * program does not hold stops it instead of corrupting a refcount.
 * Verified runs (trusted) skip all of this: the verifier proved it. */
#define KF_HELD_TAG 0x4e430000u
#define KF_HELD_MASK 0xffff0000u
#define KF_HELD_MAX 0xffffu

/* Index of the READ region of a held entry at p, or -1. */
static int kf_held_find(struct dp_env *env, uint64_t p)
{
    for (uint32_t i = env->nfixed; i < env->nregions; i++) {
        const struct dp_region *r = &env->regions[i];
        if (r->lo == p && r->len == DP_NF_CONN_SIZE && (r->kind & KF_HELD_MASK) == KF_HELD_TAG)
            return (int)i;
    }
    return -1;
}

/* Forget both regions of the entry at p (the others keep their order). */
static void kf_held_drop(struct dp_env *env, uint64_t p)
{
    uint32_t w = env->nfixed;
    for (uint32_t i = env->nfixed; i < env->nregions; i++) {
        const struct dp_region *r = &env->regions[i];
        if ((r->kind & KF_HELD_MASK) == KF_HELD_TAG && (r->lo == p || r->lo == p + DP_NF_CONN_OFF_MARK))
            continue;
        env->regions[w++] = *r;
    }
    env->nregions = w;
}

/* One reference to the held entry p is gone (release, failed insert);
 * i is its READ region (kf_conn), unused in trusted runs. */
static void kf_held_put(struct dp_env *env, int i, uint64_t p)
{
    if (env->trusted)
        return;
    if ((env->regions[i].kind & ~KF_HELD_MASK) <= 1)
        kf_held_drop(env, p);
    else
        env->regions[i].kind--;
}

/* dp_run_end_fn of the conntrack kfunc table: a checked run ended (exit or
 * fault) still holding entries -- the verifier forbids that, but unverified
 * programs run here -- so put every reference it holds and forget the
 * regions, or the entries could never be freed. Trusted runs hold no
 * tagged regions (kf_hand_out), so the engines skip the call for them. */
void dp_ct_run_end(struct dp_env *env)
{
    struct dp_rt *rt = env->user;
    struct dp_kf_ct *k = rt ? rt->ct : NULL;
    uint32_t i, w = env->nfixed, n;
    int any = 0;
    for (i = env->nfixed; i < env->nregions; i++) {
        const struct dp_region *r = &env->regions[i];
        if ((r->kind & KF_HELD_MASK) != KF_HELD_TAG) {
            env->regions[w++] = *r;
            continue;
        }
        any = 1;
        if (r->len != DP_NF_CONN_SIZE || !k || !k->api)
            continue;            /* the mark region, or no table to put back to */
        for (n = r->kind & ~KF_HELD_MASK; n; n--)
            k->api->put((struct dp_nf_conn *)(uintptr_t)r->lo);
    }
    if (any)
        env->nregions = w;
}

/* Hand a referenced entry to the program; 0 (the entry put back, the
 * program stopped) when a checked run cannot track one more. */
static uint64_t kf_hand_out(struct dp_env *env, struct dp_kf_ct *k, struct dp_nf_conn *ct)
{
    uint64_t p = (uint64_t)(uintptr_t)ct;
    uint32_t n0 = env->nregions;
    int i;
    if (env->trusted)
        return p;
    i = kf_held_find(env, p);
    if (i >= 0) {
        if ((env->regions[i].kind & ~KF_HELD_MASK) < KF_HELD_MAX) {
            env->regions[i].kind++;
            return p;
        }
    } else if (dp_env_add_region(env, ct, DP_NF_CONN_SIZE, DP_REGION_READ, KF_HELD_TAG | 1) == 0 &&
               env->nregions == n0 + 1 &&
               dp_env_add_region(env, (uint8_t *)ct + DP_NF_CONN_OFF_MARK, 4, DP_REGION_RW, KF_HELD_TAG) == 0 &&
               env->nregions == n0 + 2) {
        return p;
    }
    env->nregions = n0;
    k->api->put(ct);
    return dp_env_fail(env, "conntrack kfunc: too many nf_conn references held by one run");
}

/* The nf_conn argument of insert, release and the setters: in checked runs
 * it must be one the program holds (*held gets its READ region), else the
 * program stops and this returns NULL. */
static struct dp_nf_conn *kf_conn(struct dp_env *env, uint64_t p, const char *fn, int *held)
{
    *held = 0;
    if (!env->trusted)
        *held = p ? kf_held_find(env, p) : -1;
    if (!p || *held < 0) {
        dp_env_fail(env, "%s: %#llx is not an nf_conn this program holds (released, or never acquired)", fn,
                    (unsigned long long)p);
        return NULL;
    }
    return (struct dp_nf_conn *)(uintptr_t)p;
}

static inline int32_t rd_s32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }
static inline uint16_t rd_u16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }

/* Validate opts (bytes already accessible) and the tuple; build the
 * ORIGINAL tuple.  Returns 0 or a negative errno in kernel check order.
 * `alloc` selects the allocation path's order (netns before l4proto). */
static int kf_parse(struct dp_env *env, uint64_t tup_addr, uint32_t tup_sz, uint8_t *o, uint32_t opts_sz,
                    int alloc, struct dp_ct_tuple *out, uint8_t *zone_dir)
{
    int32_t netns;
    uint8_t l4;
    uint16_t zone = 0;
    const uint8_t *t;

    if (!tup_addr)
        return -EINVAL;
    if (opts_sz != KF_OPTS_SZ && opts_sz != KF_OPTS_SZ_OLD)
        return -EINVAL;
    if (opts_sz == KF_OPTS_SZ) {
        if (o[O_RESERVED] || o[O_RESERVED + 1] || o[O_RESERVED + 2])
            return -EINVAL;
    } else if (rd_u16(o + O_ZONE_ID)) {
        return -EINVAL;
    }
    netns = rd_s32(o + O_NETNS);
    l4 = o[O_L4PROTO];
    if (!alloc && l4 != DP_CT_IPPROTO_TCP && l4 != DP_CT_IPPROTO_UDP)
        return -EPROTO;
    if (netns < -1)
        return -EINVAL;
    if (l4 != DP_CT_IPPROTO_TCP && l4 != DP_CT_IPPROTO_UDP)
        return -EPROTO;
    memset(out, 0, sizeof(*out));
    if (tup_sz == KF_TUPLE_V4) {
        t = dp_env_mem(env, tup_addr, KF_TUPLE_V4, DP_REGION_READ);
        if (!t)
            return -EFAULT;
        out->l3 = DP_CT_AF_INET;
        memcpy(out->src, t, 4);
        memcpy(out->dst, t + 4, 4);
        memcpy(&out->sport, t + 8, 2);
        memcpy(&out->dport, t + 10, 2);
    } else if (tup_sz == KF_TUPLE_V6) {
        t = dp_env_mem(env, tup_addr, KF_TUPLE_V6, DP_REGION_READ);
        if (!t)
            return -EFAULT;
        out->l3 = DP_CT_AF_INET6;
        memcpy(out->src, t, 16);
        memcpy(out->dst, t + 16, 16);
        memcpy(&out->sport, t + 32, 2);
        memcpy(&out->dport, t + 34, 2);
    } else {
        return -EAFNOSUPPORT;
    }
    out->l4 = l4;
    if (netns >= 0)
        return -ENONET;   /* no namespace ids are assigned here */
    if (opts_sz == KF_OPTS_SZ) {
        if (o[O_ZONE_DIR] == 0)
            o[O_ZONE_DIR] = KF_DEFAULT_ZONE_DIR;
        zone = rd_u16(o + O_ZONE_ID);
        *zone_dir = o[O_ZONE_DIR];
    } else {
        *zone_dir = KF_DEFAULT_ZONE_DIR;
    }
    /* the ORIGINAL-direction key: nf_ct_zone_id(zone, IP_CT_DIR_ORIGINAL) */
    out->zone = (*zone_dir & 1) ? zone : 0;
    return 0;
}

/* opts as a host pointer; NULL opts makes the kfunc return NULL without
 * writing anything, as the kernel does. */
static uint8_t *kf_opts(struct dp_env *env, uint64_t addr, uint32_t sz)
{
    uint8_t *o;
    if (!addr)
        return NULL;
    o = dp_env_mem(env, addr, sz < 8 ? 8 : sz, DP_REGION_RW);
    if (!o)
        dp_env_fail(env, "conntrack kfunc: opts %#llx (%u bytes) is not accessible",
                    (unsigned long long)addr, sz);
    return o;
}

static inline void kf_set_error(uint8_t *o, int err) { memcpy(o + O_ERROR, &err, 4); }

/* nf_conntrack_find_get with a zone: look the tuple up keyed by the zone's
 * ORIGINAL-direction id, then (if different) its REPLY-direction id; a node
 * of direction d matches only if the entry's zone id for d is the lookup
 * zone's id for d (nf_ct_zone_equal).  A node's key is its entry's id for
 * its direction, so that is: node key == lookup id for the node's dir. */
static struct dp_nf_conn *kf_zone_find(struct dp_kf_ct *k, struct dp_ct_tuple *t, uint8_t zdir, uint16_t id,
                                       int *dir)
{
    uint16_t ids[2] = {(zdir & 1) ? id : 0, (zdir & 2) ? id : 0};
    uint64_t now = dp_kf_ct_now(k);
    for (int pass = 0; pass < 2; pass++) {
        struct dp_nf_conn *ct;
        if (pass == 1 && ids[1] == ids[0])
            break;
        t->zone = ids[pass];
        ct = k->api->lookup(k->table, t, now, dir);
        if (!ct)
            continue;
        if (ids[*dir & 1] == t->zone)
            return ct;
        k->api->put(ct);
    }
    return NULL;
}

/* What lookup and alloc share: the table, the opts, the tuple parsed and
 * checked (kf_parse; alloc has its own rules), its zone direction and the
 * zone id (16-byte opts only). */
struct kf_call {
    struct dp_kf_ct *k;
    uint8_t *o;
    struct dp_ct_tuple t;
    uint8_t zdir;
    uint16_t zone_id;
    uint64_t ret;      /* what the kfunc returns when kf_begin says stop */
};

/* The front half of lookup and alloc.  Returns 1 to go on; 0 when the call
 * ends with c->ret: 0 (no table, no opts, or opts->error set) or the
 * failure of an unreadable tuple. */
static int kf_begin(struct dp_env *env, struct kf_call *c, uint64_t tup, uint64_t tup_sz, uint64_t opts,
                    uint64_t opts_sz, int alloc)
{
    int err;
    c->ret = 0;
    c->zdir = 0;
    c->k = kf_ctx(env);
    if (!c->k)
        return 0;
    c->o = kf_opts(env, opts, (uint32_t)opts_sz);
    if (!c->o)
        return 0;
    err = kf_parse(env, tup, (uint32_t)tup_sz, c->o, (uint32_t)opts_sz, alloc, &c->t, &c->zdir);
    if (err == -EFAULT) {
        c->ret = dp_env_fail(env, "conntrack kfunc: tuple %#llx is not accessible", (unsigned long long)tup);
        return 0;
    }
    if (err) {
        kf_set_error(c->o, err);
        return 0;
    }
    c->zone_id = (uint32_t)opts_sz == KF_OPTS_SZ ? rd_u16(c->o + O_ZONE_ID) : 0;
    return 1;
}

static uint64_t kf_lookup(struct dp_env *env, uint64_t ctx, uint64_t tup, uint64_t tup_sz, uint64_t opts,
                          uint64_t opts_sz)
{
    struct kf_call c;
    struct dp_nf_conn *ct;
    int dir = 0;
    (void)ctx;
    if (!kf_begin(env, &c, tup, tup_sz, opts, opts_sz, 0))
        return c.ret;
    ct = kf_zone_find(c.k, &c.t, c.zdir, c.zone_id, &dir);
    if (!ct) {
        kf_set_error(c.o, -ENOENT);
        return 0;
    }
    c.o[O_DIR] = (uint8_t)dir;
    return kf_hand_out(env, c.k, ct);
}

static uint64_t kf_alloc(struct dp_env *env, uint64_t ctx, uint64_t tup, uint64_t tup_sz, uint64_t opts,
                         uint64_t opts_sz)
{
    struct kf_call c;
    struct dp_nf_conn *ct;
    int err = 0;
    (void)ctx;
    if (!kf_begin(env, &c, tup, tup_sz, opts, opts_sz, 1))
        return c.ret;
    ct = c.k->api->alloc(c.k->table, &c.t, NULL, dp_kf_ct_now(c.k), &err);
    if (!ct) {
        kf_set_error(c.o, err ? err : -ENOMEM);
        return 0;
    }
    c.k->api->unconfirm(ct, c.zone_id, c.zdir);   /* zone per direction, unconfirmed, 10 s */
    return kf_hand_out(env, c.k, ct);
}

static uint64_t kf_insert(struct dp_env *env, uint64_t p, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_kf_ct *k = kf_ctx(env);
    int held;
    struct dp_nf_conn *ct = kf_conn(env, p, "bpf_ct_insert_entry", &held);
    uint64_t now;
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (!k || !ct)
        return 0;
    now = dp_kf_ct_now(k);
    if (k->api->insert(ct->table, ct, now) < 0) {   /* confirms: the relative timeout becomes the expiry */
        kf_held_put(env, held, p);
        k->api->put(ct);   /* nf_conntrack_free: the reference is consumed */
        return 0;
    }
    return (uint64_t)(uintptr_t)ct;
}

static uint64_t kf_release(struct dp_env *env, uint64_t p, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_kf_ct *k = kf_ctx(env);
    int held;
    struct dp_nf_conn *ct;
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (!k)
        return 0;
    ct = kf_conn(env, p, "bpf_ct_release", &held);
    if (!ct)
        return 0;
    kf_held_put(env, held, p);
    k->api->put(ct);
    return 0;
}

static uint64_t kf_set_timeout(struct dp_env *env, uint64_t p, uint64_t ms, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_kf_ct *k = kf_ctx(env);
    int held;
    struct dp_nf_conn *ct = kf_conn(env, p, "bpf_ct_set_timeout", &held);
    (void)held;
    (void)r3; (void)r4; (void)r5;
    if (k && ct)
        k->api->set_timeout(ct, (uint32_t)ms, dp_kf_ct_now(k));
    return 0;
}

static uint64_t kf_change_timeout(struct dp_env *env, uint64_t p, uint64_t ms, uint64_t r3, uint64_t r4,
                                  uint64_t r5)
{
    struct dp_kf_ct *k = kf_ctx(env);
    int held;
    struct dp_nf_conn *ct = kf_conn(env, p, "bpf_ct_change_timeout", &held);
    (void)held;
    (void)r3; (void)r4; (void)r5;
    if (!k || !ct)
        return 0;
    return (uint64_t)(int64_t)k->api->change_timeout(ct, (uint32_t)ms, dp_kf_ct_now(k));
}

static uint64_t kf_change_status(struct dp_env *env, uint64_t p, uint64_t status, uint64_t r3, uint64_t r4,
                                 uint64_t r5)
{
    struct dp_kf_ct *k = kf_ctx(env);
    int held;
    struct dp_nf_conn *ct = kf_conn(env, p, "bpf_ct_change_status", &held);
    (void)held;
    (void)r3; (void)r4; (void)r5;
    if (!k || !ct)
        return 0;
    return (uint64_t)(int64_t)k->api->change_status(ct, (uint32_t)status);
}

/* bpf_ct_set_nat_info(nfct, union nf_inet_addr *addr, int port, manip) */
static uint64_t kf_set_nat_info(struct dp_env *env, uint64_t p, uint64_t addr, uint64_t port, uint64_t manip,
                                uint64_t r5)
{
    struct dp_kf_ct *k = kf_ctx(env);
    int held;
    struct dp_nf_conn *ct = kf_conn(env, p, "bpf_ct_set_nat_info", &held);
    const uint8_t *a;
    (void)held;
    (void)r5;
    if (!k || !ct)
        return 0;
    a = dp_env_mem(env, addr, 16, DP_REGION_READ);
    if (!a)
        return dp_env_fail(env, "bpf_ct_set_nat_info: addr %#llx is not accessible", (unsigned long long)addr);
    return (uint64_t)(int64_t)k->api->set_nat_info(ct, a, (int)(int32_t)port, (int)(int32_t)manip);
}

dp_helper_fn dp_ct_kfunc(uint32_t id)
{
    switch (id) {
    case DP_KF_XDP_CT_LOOKUP:
    case DP_KF_SKB_CT_LOOKUP: return kf_lookup;
    case DP_KF_XDP_CT_ALLOC:
    case DP_KF_SKB_CT_ALLOC: return kf_alloc;
    case DP_KF_CT_INSERT_ENTRY: return kf_insert;
    case DP_KF_CT_RELEASE: return kf_release;
    case DP_KF_CT_SET_TIMEOUT: return kf_set_timeout;
    case DP_KF_CT_CHANGE_TIMEOUT: return kf_change_timeout;
    case DP_KF_CT_SET_STATUS:
    case DP_KF_CT_CHANGE_STATUS: return kf_change_status;
    case DP_KF_CT_SET_NAT_INFO: return kf_set_nat_info;
    default: return NULL;
    }
}
