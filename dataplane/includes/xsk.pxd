# C view of the AF_XDP worker (io/csrc/xsk.h).
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.includes.frame cimport dp_batch


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
        uint64_t stats[14]

    cdef struct dp_xsk_worker:
        uint8_t *area
        uint32_t frame_size
        uint32_t nframes
        uint32_t nfree
        int need_wakeup
        int busy_poll
        uint64_t spin_ns
        uint64_t nap_ns
        uint64_t naps
        uint32_t nsock
        uint32_t ntap
        dp_xsk socks[8]
        char err[256]

    int dp_xsk_worker_init(dp_xsk_worker *w, uint32_t nframes, uint32_t frame_size, uint32_t batch_cap)
    void dp_xsk_worker_free(dp_xsk_worker *w)
    int dp_xsk_open(dp_xsk_worker *w, uint32_t ifindex, uint32_t queue, uint32_t bind_flags, uint32_t rx_size,
                    uint32_t tx_size, uint32_t fill_size, uint32_t comp_size, int busy_poll_budget)
    int dp_xsk_rx(dp_xsk_worker *w, dp_batch *b, int timeout_ms)
    uint32_t dp_xsk_put(dp_xsk_worker *w, dp_batch *b, const uint32_t *idx, uint32_t n)
    void dp_xsk_release(dp_xsk_worker *w, dp_batch *b)
    void dp_xsk_dispatch(dp_xsk_worker *w, dp_batch *b)
    uint32_t dp_xsk_tap_drain(dp_xsk_worker *w, uint32_t budget)
    void dp_xsk_recycle(dp_xsk_worker *w)
    int dp_xsk_kstats(const dp_xsk *s, uint64_t out[6])
    void dp_xsk_cancel(dp_xsk_worker *w)
