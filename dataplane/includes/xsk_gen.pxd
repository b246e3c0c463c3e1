# C view of the AF_XDP TX generator (io/csrc/xsk_gen.h).
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from dataplane.includes.xsk cimport dp_xsk_worker


cdef extern from "xsk_gen.h" nogil:
    cdef struct dp_xsk_gen:
        dp_xsk_worker w
        uint32_t len
        uint64_t queued
        uint64_t completed
        uint64_t kicks
        uint64_t dev_drops

    int dp_xsk_gen_init(dp_xsk_gen *g, uint32_t ifindex, uint32_t queue, const uint8_t *frame, uint32_t len,
                        uint32_t ring_size)
    int64_t dp_xsk_gen_run(dp_xsk_gen *g, uint64_t max_packets, uint64_t max_ns)
    void dp_xsk_gen_free(dp_xsk_gen *g)
