# C view of the conntrack kfuncs (kfuncs/csrc/ct_kfuncs.h): their table by
# id and the context (struct dp_kf_ct) a Runner points dp_rt.ct at.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.includes.env cimport dp_env, dp_helper_fn


cdef extern from "ct_kfuncs.h" nogil:
    struct dp_ct_table:
        pass
    struct dp_ct_api:
        pass
    struct dp_kf_ct:
        dp_ct_table *table
        const dp_ct_api *api
        uint64_t now
    enum:
        DP_KF_COUNT
    dp_helper_fn dp_ct_kfunc(uint32_t id)
    void dp_ct_run_end(dp_env *env)
    uint64_t dp_kf_ct_now(const dp_kf_ct *k)
