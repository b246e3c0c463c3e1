# C view of dp_deal.h: one source dealt in batches to N pumps (io/shared.pyx).
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "dp_deal.h" nogil:
    struct dp_deal:
        uint32_t nworkers
        int ordered
        int ended
        uint64_t next_seq
        uint64_t turn
        uint32_t inflight
    int dp_deal_init(dp_deal *d, uint32_t nworkers, int ordered)
    void dp_deal_destroy(dp_deal *d)
    int dp_deal_wait_fill(dp_deal *d, uint32_t worker, const volatile int *cancel)
    int dp_deal_wait_drained(dp_deal *d, const volatile int *cancel)
    uint64_t dp_deal_dealt(dp_deal *d)
    void dp_deal_end(dp_deal *d)
    int dp_deal_wait_turn(dp_deal *d, uint64_t seq, const volatile int *cancel)
    void dp_deal_released(dp_deal *d, uint64_t seq)
