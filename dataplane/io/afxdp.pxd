# C view of the AF_XDP worker (csrc/xsk.h) and its owner type.
#
# The live pump cimports XskPort and calls rx_c / dispatch_c on a struct
# dp_batch whose frames point into the UMEM: one native call per batch.
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.io.frames cimport dp_batch, dp_frame


cdef extern from "xsk.h" nogil:
    enum:
        DP_XSK_MAX_SOCKS
        DP_XSK_STATS_N

    cdef struct dp_xsk:
        int fd
        uint32_t ifindex
        uint32_t queue
        int peer
        int tap_fd
        int zerocopy
        uint64_t stats[13]

    cdef struct dp_xsk_worker:
        uint8_t *area
        uint32_t frame_size
        uint32_t nframes
        uint32_t nfree
        int need_wakeup
        int busy_poll
        uint32_t nsock
        dp_xsk socks[8]
        char err[256]

    int dp_xsk_worker_init(dp_xsk_worker *w, uint32_t nframes, uint32_t frame_size, uint32_t batch_cap)
    void dp_xsk_worker_free(dp_xsk_worker *w)
    int dp_xsk_open(dp_xsk_worker *w, uint32_t ifindex, uint32_t queue, uint32_t bind_flags, uint32_t rx_size,
                    uint32_t tx_size, uint32_t fill_size, uint32_t comp_size, int busy_poll_budget)
    int dp_xsk_rx(dp_xsk_worker *w, dp_batch *b, int timeout_ms)
    void dp_xsk_dispatch(dp_xsk_worker *w, dp_batch *b)
    void dp_xsk_recycle(dp_xsk_worker *w)
    int dp_xsk_kstats(const dp_xsk *s, uint64_t out[6])
    void dp_xsk_cancel(dp_xsk_worker *w)


cdef class XskPort:
    cdef dp_xsk_worker w
    cdef bint inited
    cdef dp_batch b                 # the worker's batch: frames point into the UMEM
    cdef readonly uint32_t batch_size
    cdef list _taps                 # TAP file objects kept open while the port lives
    # 0 on timeout/cancel, frames received, or -errno (self.w.err says why)
    cdef int rx_c(self, int timeout_ms) noexcept nogil
    # every frame of self.b to its verdict's destination; frees the batch
    cdef void dispatch_c(self) noexcept nogil
