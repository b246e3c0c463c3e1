# C view of dp_frame.h: the packet batch every data path shares.
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "dp_frame.h" nogil:
    enum:
        DP_XDP_HEADROOM
        DP_XDP_TAILROOM
        DP_FRAME_SIZE
        DP_VERDICT_MASK
        DP_FRAME_KEPT
        DP_BATCH_IN_PLACE

    cdef struct dp_frame:
        uint8_t *data
        uint8_t *data_end
        uint8_t *data_meta
        uint8_t *hard_start
        uint64_t ts_ns
        uint32_t frame_sz
        uint32_t ifindex
        uint32_t rx_queue
        uint32_t wire_extra
        uint32_t verdict
        uint32_t reserved

    cdef struct dp_batch:
        dp_frame *frames
        uint32_t count
        uint32_t capacity
        uint8_t *buffer
        uint32_t frame_size
        uint32_t headroom
        uint32_t flags

    uint32_t dp_frame_len(const dp_frame *f)
    uint32_t dp_batch_max_len(const dp_batch *b)
    dp_frame *dp_batch_reset_frame(dp_batch *b, uint32_t i, uint32_t len)
