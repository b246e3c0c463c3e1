# C view of dp_pace.h: sleeping until a packet is due (paced sources).
from libc.stdint cimport uint64_t


cdef extern from "dp_pace.h" nogil:
    uint64_t DP_PACE_GROUP_NS
    uint64_t DP_PACE_SLICE_NS
    uint64_t dp_pace_now()
    int dp_pace_sleep_until(uint64_t deadline_ns, const volatile int *cancel)
