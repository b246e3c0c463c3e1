/* The kernel's conntrack kfuncs (net/netfilter/nf_conntrack_bpf.c and
 * nf_nat_bpf.c, Linux 6.18) over dataplane's native conntrack table.
 *
 * Every function has the engines' helper signature (dp_helper_fn), so one
 * implementation serves the interpreter and the JIT: both call
 * env->kfuncs[imm].  The table a program works on comes from the Runner:
 * env->user is its struct dp_rt, whose `ct` member points at a struct
 * dp_kf_ct (set by Collection; see dataplane/kfuncs/ct_kfuncs.pyx).
 *
 * Semantics follow the kernel, including its quirks:
 *   - bpf_ct_opts of 12 (pre-zone) or 16 bytes (NF_BPF_CT_OPTS_SZ); other
 *     sizes -EINVAL; with 12 bytes the zone-id bytes are "reserved" and must
 *     be 0, with 16 bytes reserved[0..2] must be 0 and a zero ct_zone_dir is
 *     written back as NF_CT_DEFAULT_ZONE_DIR (3).
 *   - check order (lookup): NULL tuple, opts size/reserved (-EINVAL),
 *     l4proto (-EPROTO), netns_id < -1 (-EINVAL), tuple size
 *     (-EAFNOSUPPORT), netns_id >= 0 (-ENONET: no peer namespaces here, as in
 *     a fresh kernel netns), miss (-ENOENT).  alloc checks netns_id < -1
 *     before l4proto.
 *   - entries from alloc are unconfirmed: status without IPS_CONFIRMED and a
 *     *relative* ct->timeout (10 s in jiffies) until bpf_ct_insert_entry adds
 *     "now" and sets IPS_CONFIRMED, as __nf_ct_set_timeout does.
 *   - jiffies tick at the table's HZ (the kernel's CONFIG_HZ) on the kfuncs'
 *     clock, with the formula bpf_jiffies64 uses, so a program's
 *     ct->timeout - bpf_jiffies64() is the remaining lifetime as in the kernel
 *     (only with the CLOCK_MONOTONIC_COARSE clock: a fixed test clock, `now`,
 *     is not seen by bpf_jiffies64).
 *   - zones (16-byte opts): an entry's zone {id, dir} applies to the tuples of
 *     the directions in dir (NF_CT_ZONE_DIR_ORIG 1, _REPL 2); the other
 *     direction lives in zone 0, as nf_ct_zone_id(zone, dir) keys the
 *     kernel's hash.  A lookup matches a tuple of direction d when the
 *     entry's zone id for d equals the lookup zone's id for d, and (as the
 *     kernel hashes the lookup with its ORIGINAL id) the lookup's ORIGINAL id.
 */
#ifndef DP_CT_KFUNCS_H
#define DP_CT_KFUNCS_H

#include <stdint.h>

#include "dp_env.h"
#include "conntrack.h"

/* What dp_rt.ct points at: the table programs of a collection share. */
struct dp_kf_ct {
    struct dp_ct_table *table;
    const struct dp_ct_api *api;
    uint64_t now;       /* fixed clock (ns) for tests; 0 = CLOCK_MONOTONIC_COARSE */
};

/* Index order of the registry (dataplane/kfuncs/registry.py KFUNC_NAMES). */
enum dp_kf_id {
    DP_KF_XDP_CT_LOOKUP, DP_KF_SKB_CT_LOOKUP, DP_KF_XDP_CT_ALLOC, DP_KF_SKB_CT_ALLOC,
    DP_KF_CT_INSERT_ENTRY, DP_KF_CT_RELEASE, DP_KF_CT_SET_TIMEOUT, DP_KF_CT_CHANGE_TIMEOUT,
    DP_KF_CT_SET_STATUS, DP_KF_CT_CHANGE_STATUS, DP_KF_CT_SET_NAT_INFO, DP_KF_COUNT
};

/* The implementation of kfunc `id`, or NULL. */
dp_helper_fn dp_ct_kfunc(uint32_t id);
/* Run-end cleanup of the conntrack kfunc table (dp_run_end_fn): puts the
 * entries a checked run still holds. */
void dp_ct_run_end(struct dp_env *env);
/* The clock the kfuncs use for this context (ns). */
uint64_t dp_kf_ct_now(const struct dp_kf_ct *k);

#endif
