# C declarations of the conntrack kfuncs (csrc/ct_kfuncs.h) and the context
# object a Runner points dp_rt.ct at.
from libc.stdint cimport uint32_t, uint64_t

from dataplane.runtime.interp cimport dp_env, dp_helper_fn


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


cdef class CtContext:
    cdef dp_kf_ct c
    cdef readonly object table      # the ConntrackTable kept alive
