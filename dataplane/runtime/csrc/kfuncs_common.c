/* Kfuncs the kernel registers for every program type (kernel/bpf/helpers.c
 * common_btf_ids) that the dataplane provides, called by both engines
 * through the kfunc table.
 *
 * bpf_rcu_read_lock / bpf_rcu_read_unlock: the verifier checks that the
 * sections pair up (dataplane/verifier/calls.py); at run time there is no
 * RCU to enter here -- objects a program reaches stay valid for the whole
 * run -- so both do nothing, and return nothing (r0 is not read after a
 * void kfunc). The numeric iterator kfuncs, also common ones, are in
 * kfuncs_iter.c (ids 2-4 here). */
#include "dp_helpers.h"

static uint64_t kf_rcu_read_lock(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                 uint64_t r5)
{
    (void)env; (void)r1; (void)r2; (void)r3; (void)r4; (void)r5;
    return 0;
}

static uint64_t kf_rcu_read_unlock(struct dp_env *env, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                   uint64_t r5)
{
    (void)env; (void)r1; (void)r2; (void)r3; (void)r4; (void)r5;
    return 0;
}

dp_helper_fn dp_common_kfunc(uint32_t id)
{
    switch (id) {
    case 0: return kf_rcu_read_lock;
    case 1: return kf_rcu_read_unlock;
    default: return id >= 2 ? dp_iter_kfunc(id - 2) : NULL;
    }
}
