/*
 * Kernel helpers for the engines (dp_helper_fn, see dp_env.h) and the hook
 * contexts they act on.
 *
 * A runner (helpers.pyx: Runner) owns one struct dp_rt and points
 * env->user at it: the maps the program was linked against (map pointers a
 * program passes are checked against this list, since there is no verifier
 * yet), the redirect target of the last bpf_redirect*, the trace_printk and
 * perf-event sinks, and the spin lock held.
 */
#ifndef DP_HELPERS_H
#define DP_HELPERS_H

#include <stdint.h>
#include <time.h>

#include "dp_env.h"
#include "dp_maps.h"
#include "dp_net.h"

/* XDP_PACKET_HEADROOM, and the tailroom BPF_PROG_TEST_RUN reserves
 * (SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64): the same
 * numbers as dataplane/io/csrc/dp_frame.h. */
#define DP_XDP_HEADROOM 256u
#define DP_XDP_TAILROOM 320u
#define DP_XDP_FRAME_SIZE 4096u
/* sizeof(struct xdp_frame): bpf_xdp_adjust_head/meta keep it free at hard_start. */
#define DP_XDP_FRAME_HDR 40u
#define DP_ETH_HLEN 14u

/* bpf_loop callbacks: the linker turns `lddw rX, <subprog>` (src 4) into
 * DP_CALLBACK_TAG | insn index; bpf_loop checks the tag. */
#define DP_CALLBACK_TAG 0xcb0f000000000000ull
#define DP_CALLBACK_MASK 0xffffffff00000000ull

/* Multi-buffer XDP (struct skb_shared_info's frags of an xdp_buff with
 * XDP_FLAGS_HAS_FRAGS): the packet continues after data_end in up to
 * MAX_SKB_FRAGS page fragments. Only helpers see them (bpf_xdp_load_bytes,
 * _store_bytes, _get_buff_len, _adjust_tail); data/data_end stay the linear
 * part, as in the kernel. */
#define DP_XDP_MAX_FRAGS 17u     /* MAX_SKB_FRAGS */
#define DP_PAGE_SIZE 4096u

struct dp_xdp_frag {
    uint8_t *page;               /* start of the fragment's buffer */
    uint32_t off, len;           /* skb_frag_off / skb_frag_size */
};

struct dp_xdp_frags {
    uint32_t nr_frags;
    uint32_t size;               /* sinfo->xdp_frags_size: bytes in all frags */
    uint32_t frag_size;          /* rxq->frag_size: buffer room per fragment (growth limit) */
    uint32_t pad;
    struct dp_xdp_frag frags[DP_XDP_MAX_FRAGS];
};

/* The XDP buffer (struct xdp_buff): same first members as struct dp_frame. */
struct dp_xdp_buff {
    uint8_t *data;
    uint8_t *data_end;
    uint8_t *data_meta;
    uint8_t *hard_start;
    uint32_t frame_sz;
    uint32_t ingress_ifindex;
    uint32_t rx_queue_index;
    uint32_t egress_ifindex;
    struct dp_xdp_frags *frags;  /* NULL or nr_frags 0: a linear buffer */
};

static inline int dp_xdp_has_frags(const struct dp_xdp_buff *x)
{
    return x->frags != NULL && x->frags->nr_frags != 0;
}

/* xdp_get_buff_len: the linear part plus every fragment. */
static inline uint64_t dp_xdp_buff_len(const struct dp_xdp_buff *x)
{
    return (uint64_t)(x->data_end - x->data) + (dp_xdp_has_frags(x) ? x->frags->size : 0);
}

/* bpf_xdp_pointer / bpf_xdp_copy_buf (helpers_xdp_frags.c), shared with the
 * XDP dynptrs (kfuncs_dynptr.c): a direct pointer when [off, off+len) lies
 * in one piece, NULL when it spans pieces, NULL with *err set (-EFAULT,
 * -EINVAL) when out of bounds; the copy walks the linear part and frags. */
uint8_t *dp_xdp_pointer(struct dp_xdp_buff *x, uint32_t off, uint32_t len, int *err);
void dp_xdp_copy_buf(struct dp_xdp_buff *x, uint64_t off, uint8_t *buf, uint64_t len, int flush);

/* Minimal struct __sk_buff for socket filters (as BPF_PROG_TEST_RUN builds
 * it: data starts at the network header, the Ethernet header before it). */
struct dp_skb {
    uint8_t *data;
    uint32_t len;
    uint32_t protocol;   /* __be16 as stored by eth_type_trans */
    uint32_t ifindex;    /* skb->dev: the loopback device in a test run */
    uint32_t pkt_type;   /* PACKET_HOST/BROADCAST/MULTICAST/OTHERHOST from eth_type_trans */
    uint32_t ingress_ifindex;  /* skb->skb_iif: 0 in a test run (no ctx_in) */
    uint32_t pad[5];
    /* __sk_buff cb[0..4], at the same offset (48) as in struct __sk_buff, so
     * verified code reads and writes it at ctx + 48 directly; the runner
     * makes it the env's writable ctx window (dp_env.ctx_wlo). Zeroed per
     * test run, as BPF_PROG_TEST_RUN without ctx_in leaves skb->cb. */
    uint32_t cb[5];
};
#define DP_SKB_CB_OFF 48u
#define DP_SKB_CB_LEN 20u

/* sockets one run may hold at once (the kernel's verifier bounds the
 * references a program holds; a checked run past this faults) */
#define DP_SK_HELD_MAX 64u

#define DP_REDIRECT_NONE 0
#define DP_REDIRECT_IFINDEX 1
#define DP_REDIRECT_MAP 2

/* A byte sink Python drains: records appended back to back. */
struct dp_sink {
    uint8_t *buf;
    uint32_t cap, len;
    uint64_t dropped;    /* records that did not fit */
};

struct dp_rt {
    struct dp_map **maps;        /* maps the program may name */
    uint32_t nmaps;
    struct dp_map **perf_maps;   /* stand-ins for PERF_EVENT_ARRAY maps */
    uint32_t nperf;
    uint32_t cpu;                /* bpf_get_smp_processor_id */
    uint64_t prandom;            /* xorshift state */
    /* bpf_redirect_info */
    uint32_t redirect_kind, redirect_index;
    uint64_t redirect_flags;
    struct dp_map *redirect_map;
    /* trace_printk lines ('\n'-terminated) and perf records ({u32 size, u32 index, data, pad to 8}) */
    struct dp_sink trace, perf;
    void *lock_held;             /* bpf_spin_lock taken and not released */
    void *ct;                    /* struct dp_kf_ct (dataplane/kfuncs): conntrack table of the kfuncs */
    struct dp_net *net;          /* the network namespace model (dataplane/net, dp_net.h) */
    /* sockets a program holds (bpf_sk_lookup_* until bpf_sk_release): a
     * run that ends holding some (only unverified code can) has them put
     * back by dp_rt_put_socks */
    const struct dp_bpf_sock *sk_held[DP_SK_HELD_MAX];
    uint32_t nsk_held;
};

/* Release every socket still held (end of an unverified run). */
static inline void dp_rt_put_socks(struct dp_rt *rt)
{
    while (rt->nsk_held)
        rt->net->ops->sk_release(rt->net, rt->sk_held[--rt->nsk_held]);
}

/* bpf_ktime_get_*_ns: a clock in ns (helpers_core.c and JIT-compiled code). */
static inline uint64_t dp_clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* bpf_get_smp_processor_id: the runner's CPU (0 without a runner). */
static inline uint64_t dp_rt_cpu(const struct dp_env *env)
{
    return env->user ? ((const struct dp_rt *)env->user)->cpu : 0;
}

/* The kernel helper with this id, or NULL when not implemented. */
dp_helper_fn dp_kernel_helper(uint32_t id);
/* The XDP dynptr kfuncs (kfuncs_dynptr.c): 0 bpf_dynptr_from_xdp, 1 bpf_dynptr_slice,
 * 2 bpf_dynptr_slice_rdwr; NULL past them. */
dp_helper_fn dp_dynptr_kfunc(uint32_t id);
/* The common kfuncs (kfuncs_common.c): 0 bpf_rcu_read_lock, 1 bpf_rcu_read_unlock, 2-4 the numeric
 * iterator's (dp_iter_kfunc); NULL past them. */
dp_helper_fn dp_common_kfunc(uint32_t id);
/* bpf_get_numa_node_id: NUMA node of each CPU (helpers.set_numa_nodes) */
#define DP_NUMA_CPUS 1024u
extern uint16_t dp_cpu_numa_node[DP_NUMA_CPUS];
/* The numeric iterator kfuncs (kfuncs_iter.c): 0 bpf_iter_num_new, 1 _next, 2 _destroy; NULL past them. */
dp_helper_fn dp_iter_kfunc(uint32_t id);
/* bpf_jiffies64's tick rate: the kernel's CONFIG_HZ (helpers.set_jiffies_hz). */
extern uint32_t dp_jiffies_hz;

/* ctx load hooks (dp_ctx_load_fn) */
int dp_xdp_ctx_load(struct dp_env *env, uint32_t off, uint32_t size, uint64_t *out);
int dp_skb_ctx_load(struct dp_env *env, uint32_t off, uint32_t size, uint64_t *out);

/* r1 of an XDP helper as the buffer, or NULL after failing the program
 * (an unverified program may pass anything). */
struct dp_xdp_buff *dp_xdp_of(struct dp_env *env, uint64_t ctx, const char *helper);
/* A ring buffer map argument of this program (helpers_out.c), or NULL after dp_env_fail. */
struct dp_map *dp_ring_arg(struct dp_env *env, uint64_t v, const char *helper);
/* A socket this run holds (a lookup's, or a cast of it), or NULL after dp_env_fail (helpers_sock_cast.c). */
const struct dp_bpf_sock *dp_sk_held(struct dp_env *env, uint64_t r1, const char *helper);

/* Point the engine's input window at the packet after data moved. */
static inline void dp_xdp_sync(struct dp_env *env, const struct dp_xdp_buff *x)
{
    env->mem_lo = (uint64_t)(uintptr_t)x->data_meta;
    env->mem_len = (uint64_t)(x->data_end - x->data_meta);
    env->mem_wlen = env->mem_len;
}

/* Append to a sink; -1 when full (the record is dropped and counted). */
int dp_sink_put(struct dp_sink *s, const void *a, uint32_t alen, const void *b, uint32_t blen);

/* x86-64 csum_partial semantics (32-bit end-around-carry sum + seed). */
uint32_t dp_csum_partial(const uint8_t *p, uint64_t len, uint32_t seed);

#endif /* DP_HELPERS_H */
