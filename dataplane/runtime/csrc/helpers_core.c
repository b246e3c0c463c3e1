/* Kernel helpers that do not depend on the hook: maps, time, randomness,
 * tail calls, bpf_loop, bpf_for_each_map_elem, spin locks. Argument checks stand in for the
 * verifier: a bad pointer stops the program with a message instead of
 * corrupting the process. Return values and errno follow the kernel. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dp_helpers.h"
#include "dp_helper_ids.h"

#define RT(env) ((struct dp_rt *)(env)->user)
#define UNUSED5 (void)r1; (void)r2; (void)r3; (void)r4; (void)r5

/* Map types whose lookups hand out pointers into their value storage. */
static int has_value_region(uint32_t t)
{
    switch (t) {
    case DP_MAP_HASH: case DP_MAP_ARRAY: case DP_MAP_PERCPU_HASH: case DP_MAP_PERCPU_ARRAY:
    case DP_MAP_LRU_HASH: case DP_MAP_LRU_PERCPU_HASH: case DP_MAP_LPM_TRIE:
    case DP_MAP_DEVMAP: case DP_MAP_DEVMAP_HASH:
        return 1;
    default:
        return 0;
    }
}

/* The map a program passed, or NULL after failing the program. A checked
 * program may also pass an inner map an outer map of its own holds (a
 * map-in-map lookup returned it); its values become accessible for the
 * rest of the run, as the maps the program names are for every run. */
static struct dp_map *arg_map(struct dp_env *env, uint64_t v, const char *helper)
{
    struct dp_rt *rt = RT(env);
    uint32_t i;
    if (env->trusted)  /* the verifier proved R1 is a CONST_PTR_TO_MAP of this program */
        return (struct dp_map *)(uintptr_t)v;
    if (rt) {
        for (i = 0; i < rt->nmaps; i++)
            if ((uint64_t)(uintptr_t)rt->maps[i] == v)
                return rt->maps[i];
        for (i = 0; i < rt->nmaps; i++) {
            struct dp_map *o = rt->maps[i];
            if (o->ops->holds && o->ops->holds(o, (const void *)(uintptr_t)v)) {
                struct dp_map *inner = (struct dp_map *)(uintptr_t)v;
                if (has_value_region(inner->map_type) &&
                    dp_env_add_region(env, inner->value_base, inner->value_region_size,
                                      (inner->map_flags & DP_F_RDONLY_PROG) ? DP_REGION_READ : DP_REGION_RW, 0)) {
                    dp_env_fail(env, "%s: too many memory regions", helper);
                    return NULL;
                }
                return inner;
            }
        }
    }
    dp_env_fail(env, "%s: R1 is not a map of this program (0x%llx)", helper, (unsigned long long)v);
    return NULL;
}

static void *arg_mem(struct dp_env *env, uint64_t addr, uint64_t size, uint32_t need, const char *helper, int argno)
{
    void *p = dp_env_mem(env, addr, size, need);
    if (!p)
        dp_env_fail(env, "%s: R%d invalid memory access: %llu bytes at 0x%llx", helper, argno,
                    (unsigned long long)size, (unsigned long long)addr);
    return p;
}

static uint64_t h_map_lookup_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_lookup_elem");
    const void *key;
    (void)r3; (void)r4; (void)r5;
    if (!m || !(key = arg_mem(env, r2, m->key_size, DP_REGION_READ, "bpf_map_lookup_elem", 2)))
        return 0;
    return (uint64_t)(uintptr_t)dp_map_lookup_elem(m, key);
}

static uint64_t h_map_lookup_percpu_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_lookup_percpu_elem");
    const void *key;
    (void)r4; (void)r5;
    if (!m || !(key = arg_mem(env, r2, m->key_size, DP_REGION_READ, "bpf_map_lookup_percpu_elem", 2)))
        return 0;
    if ((uint32_t)r3 >= m->nr_cpus)
        return 0;
    return (uint64_t)(uintptr_t)dp_map_lookup_percpu_elem(m, key, (uint32_t)r3);
}

static uint64_t h_map_update_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_update_elem");
    const void *key, *value;
    (void)r5;
    if (!m || !(key = arg_mem(env, r2, m->key_size, DP_REGION_READ, "bpf_map_update_elem", 2)) ||
        !(value = arg_mem(env, r3, m->value_size, DP_REGION_READ, "bpf_map_update_elem", 3)))
        return 0;
    return (uint64_t)dp_map_update_elem(m, key, value, r4);
}

static uint64_t h_map_delete_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_delete_elem");
    const void *key;
    (void)r3; (void)r4; (void)r5;
    if (!m || !(key = arg_mem(env, r2, m->key_size, DP_REGION_READ, "bpf_map_delete_elem", 2)))
        return 0;
    return (uint64_t)dp_map_delete_elem(m, key);
}

static uint64_t h_map_push_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_push_elem");
    const void *v;
    (void)r4; (void)r5;
    if (!m || !(v = arg_mem(env, r2, m->value_size, DP_REGION_READ, "bpf_map_push_elem", 2)))
        return 0;
    return (uint64_t)dp_map_push_elem(m, v, r3);
}

static uint64_t h_map_pop_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_pop_elem");
    void *v;
    (void)r3; (void)r4; (void)r5;
    if (!m || !(v = arg_mem(env, r2, m->value_size, DP_REGION_WRITE, "bpf_map_pop_elem", 2)))
        return 0;
    return (uint64_t)dp_map_pop_elem(m, v);
}

static uint64_t h_map_peek_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_map_peek_elem");
    void *v;
    (void)r3; (void)r4; (void)r5;
    /* a bloom filter's peek reads the value it tests; queue/stack write one */
    if (!m || !(v = arg_mem(env, r2, m->value_size, m->map_type == DP_MAP_BLOOM_FILTER ? DP_REGION_READ
                                                                                      : DP_REGION_WRITE,
                            "bpf_map_peek_elem", 2)))
        return 0;
    return (uint64_t)dp_map_peek_elem(m, v);
}

static uint64_t h_ktime_get_ns(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)env; UNUSED5;
    return dp_clock_ns(CLOCK_MONOTONIC);
}

/* jiffies tick at the kernel's CONFIG_HZ (set by dataplane.runtime.helpers at import,
 * from loader/kconfig.py),
 * floor(ns * HZ / 1e9) of CLOCK_MONOTONIC_COARSE (a tick clock, like the
 * kernel's jiffies): the formula and clock the conntrack kfuncs use for
 * nf_conn->timeout, so ct->timeout - bpf_jiffies64() means what it does in
 * the kernel. */
uint32_t dp_jiffies_hz = 250;

uint64_t dp_jiffies_of(uint64_t ns, uint32_t hz) { return (uint64_t)((__uint128_t)ns * hz / 1000000000u); }

static uint64_t h_jiffies64(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)env; UNUSED5;
    return dp_jiffies_of(dp_clock_ns(CLOCK_MONOTONIC_COARSE), dp_jiffies_hz);
}

static uint64_t h_ktime_get_boot_ns(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)env; UNUSED5;
    return dp_clock_ns(CLOCK_BOOTTIME);
}

static uint64_t h_ktime_get_coarse_ns(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)env; UNUSED5;
    return dp_clock_ns(CLOCK_MONOTONIC_COARSE);
}

/* bpf_ktime_get_tai_ns: CLOCK_TAI (the kernel's ktime_get_tai_fast_ns) */
static uint64_t h_ktime_get_tai_ns(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)env; UNUSED5;
    return dp_clock_ns(CLOCK_TAI);
}

/* bpf_get_numa_node_id: the kernel's numa_node_id(), the node of the CPU
 * the program runs on -- here the runner's CPU, looked up in the table
 * dataplane.runtime.helpers fills from sysfs at import (0 past it: a
 * machine without NUMA has node 0 only). */
uint16_t dp_cpu_numa_node[DP_NUMA_CPUS];

static uint64_t h_get_numa_node_id(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    uint64_t cpu = dp_rt_cpu(env);
    UNUSED5;
    return cpu < DP_NUMA_CPUS ? dp_cpu_numa_node[cpu] : 0;
}

static uint64_t h_get_prandom_u32(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_rt *rt = RT(env);
    uint64_t x;
    UNUSED5;
    if (!rt)
        return 4;  /* chosen by fair dice roll: no runner state */
    x = rt->prandom ? rt->prandom : (dp_clock_ns(CLOCK_MONOTONIC) | 1);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rt->prandom = x;
    return (uint32_t)(x >> 16);
}

static uint64_t h_get_smp_processor_id(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    UNUSED5;
    return dp_rt_cpu(env);
}

/* bpf_tail_call: the order of checks and the counter increment are the
 * kernel interpreter's (and x86 JIT's): a call to an empty slot still counts. */
static uint64_t h_tail_call(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct dp_map *m = arg_map(env, r2, "bpf_tail_call");
    const struct dp_prog *target;
    (void)r1; (void)r4; (void)r5;
    if (!m)
        return 0;
    if (m->map_type != DP_MAP_PROG_ARRAY)
        return dp_env_fail(env, "bpf_tail_call: map is not a PROG_ARRAY");
    if ((uint32_t)r3 >= m->max_entries)
        return 0;
    if (env->tail_call_cnt >= DP_MAX_TAIL_CALLS)
        return 0;
    env->tail_call_cnt++;
    target = dp_prog_array_get(m, (uint32_t)r3);
    if (!target)
        return 0;
    env->tail_target = target;
    env->stop = DP_STOP_TAIL;
    return 0;
}

/* bpf_loop(nr_loops, callback_fn, callback_ctx, flags) */
#define DP_BPF_MAX_LOOPS (8u * 1024 * 1024)
static uint64_t h_loop(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    uint32_t nr = (uint32_t)r1, i;
    uint64_t ret;
    (void)r5;
    if (r4)
        return (uint64_t)-EINVAL;
    if (nr > DP_BPF_MAX_LOOPS)
        return (uint64_t)-E2BIG;
    if ((r2 & DP_CALLBACK_MASK) != DP_CALLBACK_TAG || !env->call_sub)
        return dp_env_fail(env, "bpf_loop: R2 is not a callback function (0x%llx)", (unsigned long long)r2);
    for (i = 0; i < nr; i++) {
        if (env->call_sub(env, (uint32_t)(r2 & 0xffffffffu), i, r3, 0, 0, 0, &ret) != 0) {
            env->stop = DP_STOP_ERROR;  /* errmsg already says why */
            return 0;
        }
        if (ret)
            return (uint64_t)i + 1;
    }
    return i;
}

/* bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags): the
 * callback gets (map, &key, &value, callback_ctx) for each element -- an
 * array's in index order, a hash map's in the map's own iteration order (as
 * the kernel's bucket order is its own). A hash map's keys are taken first
 * (get_next_key), so that a callback deleting elements neither repeats nor
 * loses one; elements gone by their turn are skipped, as in the kernel's
 * bucket walk, and values are read without touching LRU state. Per-CPU maps
 * pass the current CPU's value. The callback returns 0 to go on, 1 to stop;
 * the helper returns how many calls were made. The key lives in a per-thread
 * buffer per nesting level (a callback may iterate another map), readable
 * for the rest of the run as the kernel's stack copy is for the call. */
#define FOREACH_DEPTH 8
#define FOREACH_KEY_MAX 512
static __thread uint8_t foreach_keys[FOREACH_DEPTH][FOREACH_KEY_MAX];
static __thread uint32_t foreach_depth;

static int foreach_call(struct dp_env *env, uint64_t cb, struct dp_map *m, const void *key, void *value,
                        uint64_t ctx, uint64_t *ret)
{
    if (env->call_sub(env, (uint32_t)(cb & 0xffffffffu), (uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)key,
                      (uint64_t)(uintptr_t)value, ctx, 0, ret) != 0) {
        env->stop = DP_STOP_ERROR;  /* errmsg already says why */
        return -1;
    }
    return 0;
}

static uint64_t h_for_each_map_elem(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                    uint64_t r5)
{
    struct dp_map *m = arg_map(env, r1, "bpf_for_each_map_elem");
    uint64_t n = 0, ret = 0;
    uint8_t *key, *keys = NULL;
    uint32_t i, nkeys = 0;
    (void)r5;
    if (!m)
        return 0;
    if (r4)
        return (uint64_t)-EINVAL;
    if ((r2 & DP_CALLBACK_MASK) != DP_CALLBACK_TAG || !env->call_sub)
        return dp_env_fail(env, "bpf_for_each_map_elem: R2 is not a callback function (0x%llx)",
                           (unsigned long long)r2);
    switch (m->map_type) {
    case DP_MAP_ARRAY: case DP_MAP_PERCPU_ARRAY:
    case DP_MAP_HASH: case DP_MAP_PERCPU_HASH: case DP_MAP_LRU_HASH: case DP_MAP_LRU_PERCPU_HASH:
        break;
    default:
        return dp_env_fail(env, "bpf_for_each_map_elem: map type %u cannot be iterated", m->map_type);
    }
    if (foreach_depth >= FOREACH_DEPTH || m->key_size > FOREACH_KEY_MAX)
        return dp_env_fail(env, "bpf_for_each_map_elem: nested too deep or key too large");
    key = foreach_keys[foreach_depth];
    if (!env->trusted && dp_env_add_region(env, key, m->key_size, DP_REGION_READ, 0))
        return dp_env_fail(env, "bpf_for_each_map_elem: too many memory regions");
    foreach_depth++;
    if (m->map_type == DP_MAP_ARRAY || m->map_type == DP_MAP_PERCPU_ARRAY) {
        for (i = 0; i < m->max_entries; i++) {
            void *v;
            memcpy(key, &i, sizeof(i));
            v = dp_map_lookup_elem(m, key);
            n++;
            if (foreach_call(env, r2, m, key, v, r3, &ret) || ret)
                break;
        }
        goto out;
    }
    keys = malloc((size_t)m->max_entries * m->key_size + 1);
    if (!keys) {
        dp_env_fail(env, "bpf_for_each_map_elem: out of memory");
        goto out;
    }
    while (nkeys < m->max_entries &&
           dp_map_get_next_key(m, nkeys ? keys + (size_t)(nkeys - 1) * m->key_size : NULL,
                               keys + (size_t)nkeys * m->key_size) == 0)
        nkeys++;
    for (i = 0; i < nkeys; i++) {
        void *v;
        memcpy(key, keys + (size_t)i * m->key_size, m->key_size);
        v = m->ops->peek_value ? m->ops->peek_value(m, key) : dp_map_lookup_elem(m, key);
        if (!v)
            continue;
        n++;
        if (foreach_call(env, r2, m, key, v, r3, &ret) || ret)
            break;
    }
out:
    free(keys);
    foreach_depth--;
    return n;
}

/* struct bpf_spin_lock is a u32 in a map value. The runner releases a lock
 * still held at exit (the kernel's verifier rejects such programs). */
static uint64_t h_spin_lock(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    uint32_t *lock = arg_mem(env, r1, 4, DP_REGION_RW, "bpf_spin_lock", 1);
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (!lock)
        return 0;
    if (RT(env) && RT(env)->lock_held)
        return dp_env_fail(env, "bpf_spin_lock: already holding a lock");
    while (__atomic_exchange_n(lock, 1u, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(lock, __ATOMIC_RELAXED))
            __builtin_ia32_pause();
    if (RT(env))
        RT(env)->lock_held = lock;
    return 0;
}

static uint64_t h_spin_unlock(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    uint32_t *lock = arg_mem(env, r1, 4, DP_REGION_RW, "bpf_spin_unlock", 1);
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (!lock)
        return 0;
    if (RT(env) && RT(env)->lock_held != lock)
        return dp_env_fail(env, "bpf_spin_unlock: lock is not held");
    __atomic_store_n(lock, 0u, __ATOMIC_RELEASE);
    if (RT(env))
        RT(env)->lock_held = NULL;
    return 0;
}

/* ---- defined in the other helper files ---- */
uint64_t dp_h_trace_printk(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_perf_event_output(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_output(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_reserve(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_submit(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_discard(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_query(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_redirect(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_redirect_map(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_csum_diff(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_xdp_adjust_head(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_xdp_adjust_tail(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_xdp_adjust_meta(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_fib_lookup(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_check_mtu(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_sk_lookup_tcp(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_sk_lookup_udp(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_lookup_tcp(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_sk_release(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_to_tcp6_sock(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_to_tcp_sock(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_to_tcp_timewait_sock(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_to_tcp_request_sock(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_to_udp6_sock(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_skc_to_unix_sock(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_tcp_check_syncookie(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_tcp_gen_syncookie(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_tcp_raw_gen_syncookie_ipv4(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_tcp_raw_gen_syncookie_ipv6(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_tcp_raw_check_syncookie_ipv4(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_tcp_raw_check_syncookie_ipv6(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_xdp_get_buff_len(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_xdp_load_bytes(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_xdp_store_bytes(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_dynptr_from_mem(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_reserve_dynptr(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_submit_dynptr(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_ringbuf_discard_dynptr(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_dynptr_read(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_dynptr_write(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_dynptr_data(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_strncmp(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_strtol(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_strtoul(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_snprintf(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);
uint64_t dp_h_trace_vprintk(struct dp_env *, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

dp_helper_fn dp_kernel_helper(uint32_t id)
{
    switch (id) {
    case DP_FUNC_map_lookup_elem: return h_map_lookup_elem;
    case DP_FUNC_map_update_elem: return h_map_update_elem;
    case DP_FUNC_map_delete_elem: return h_map_delete_elem;
    case DP_FUNC_ktime_get_ns: return h_ktime_get_ns;
    case DP_FUNC_trace_printk: return dp_h_trace_printk;
    case DP_FUNC_get_prandom_u32: return h_get_prandom_u32;
    case DP_FUNC_get_smp_processor_id: return h_get_smp_processor_id;
    case DP_FUNC_tail_call: return h_tail_call;
    case DP_FUNC_redirect: return dp_h_redirect;
    case DP_FUNC_perf_event_output: return dp_h_perf_event_output;
    case DP_FUNC_csum_diff: return dp_h_csum_diff;
    case DP_FUNC_xdp_adjust_head: return dp_h_xdp_adjust_head;
    case DP_FUNC_redirect_map: return dp_h_redirect_map;
    case DP_FUNC_xdp_adjust_meta: return dp_h_xdp_adjust_meta;
    case DP_FUNC_xdp_adjust_tail: return dp_h_xdp_adjust_tail;
    case DP_FUNC_fib_lookup: return dp_h_fib_lookup;
    case DP_FUNC_sk_lookup_tcp: return dp_h_sk_lookup_tcp;
    case DP_FUNC_sk_lookup_udp: return dp_h_sk_lookup_udp;
    case DP_FUNC_sk_release: return dp_h_sk_release;
    case DP_FUNC_map_push_elem: return h_map_push_elem;
    case DP_FUNC_map_pop_elem: return h_map_pop_elem;
    case DP_FUNC_map_peek_elem: return h_map_peek_elem;
    case DP_FUNC_spin_lock: return h_spin_lock;
    case DP_FUNC_spin_unlock: return h_spin_unlock;
    case DP_FUNC_skc_lookup_tcp: return dp_h_skc_lookup_tcp;
    case DP_FUNC_tcp_check_syncookie: return dp_h_tcp_check_syncookie;
    case DP_FUNC_tcp_gen_syncookie: return dp_h_tcp_gen_syncookie;
    case DP_FUNC_skc_to_tcp6_sock: return dp_h_skc_to_tcp6_sock;
    case DP_FUNC_skc_to_tcp_sock: return dp_h_skc_to_tcp_sock;
    case DP_FUNC_skc_to_tcp_timewait_sock: return dp_h_skc_to_tcp_timewait_sock;
    case DP_FUNC_skc_to_tcp_request_sock: return dp_h_skc_to_tcp_request_sock;
    case DP_FUNC_skc_to_udp6_sock: return dp_h_skc_to_udp6_sock;
    case DP_FUNC_skc_to_unix_sock: return dp_h_skc_to_unix_sock;
    case DP_FUNC_jiffies64: return h_jiffies64;
    case DP_FUNC_ktime_get_boot_ns: return h_ktime_get_boot_ns;
    case DP_FUNC_ringbuf_output: return dp_h_ringbuf_output;
    case DP_FUNC_ringbuf_reserve: return dp_h_ringbuf_reserve;
    case DP_FUNC_ringbuf_submit: return dp_h_ringbuf_submit;
    case DP_FUNC_ringbuf_discard: return dp_h_ringbuf_discard;
    case DP_FUNC_ringbuf_query: return dp_h_ringbuf_query;
    case DP_FUNC_ktime_get_coarse_ns: return h_ktime_get_coarse_ns;
    case DP_FUNC_check_mtu: return dp_h_check_mtu;
    case DP_FUNC_loop: return h_loop;
    case DP_FUNC_for_each_map_elem: return h_for_each_map_elem;
    case DP_FUNC_xdp_get_buff_len: return dp_h_xdp_get_buff_len;
    case DP_FUNC_xdp_load_bytes: return dp_h_xdp_load_bytes;
    case DP_FUNC_xdp_store_bytes: return dp_h_xdp_store_bytes;
    case DP_FUNC_map_lookup_percpu_elem: return h_map_lookup_percpu_elem;
    case DP_FUNC_tcp_raw_gen_syncookie_ipv4: return dp_h_tcp_raw_gen_syncookie_ipv4;
    case DP_FUNC_tcp_raw_gen_syncookie_ipv6: return dp_h_tcp_raw_gen_syncookie_ipv6;
    case DP_FUNC_tcp_raw_check_syncookie_ipv4: return dp_h_tcp_raw_check_syncookie_ipv4;
    case DP_FUNC_tcp_raw_check_syncookie_ipv6: return dp_h_tcp_raw_check_syncookie_ipv6;
    case DP_FUNC_dynptr_from_mem: return dp_h_dynptr_from_mem;
    case DP_FUNC_ringbuf_reserve_dynptr: return dp_h_ringbuf_reserve_dynptr;
    case DP_FUNC_ringbuf_submit_dynptr: return dp_h_ringbuf_submit_dynptr;
    case DP_FUNC_ringbuf_discard_dynptr: return dp_h_ringbuf_discard_dynptr;
    case DP_FUNC_dynptr_read: return dp_h_dynptr_read;
    case DP_FUNC_dynptr_write: return dp_h_dynptr_write;
    case DP_FUNC_dynptr_data: return dp_h_dynptr_data;
    case DP_FUNC_get_numa_node_id: return h_get_numa_node_id;
    case DP_FUNC_ktime_get_tai_ns: return h_ktime_get_tai_ns;
    case DP_FUNC_strncmp: return dp_h_strncmp;
    case DP_FUNC_strtol: return dp_h_strtol;
    case DP_FUNC_strtoul: return dp_h_strtoul;
    case DP_FUNC_snprintf: return dp_h_snprintf;
    case DP_FUNC_trace_vprintk: return dp_h_trace_vprintk;
    default: return NULL;
    }
}
