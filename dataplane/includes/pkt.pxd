# C view of the AF_PACKET worker (io/csrc/pkt.h).
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from dataplane.includes.frame cimport dp_batch


cdef extern from "pkt.h" nogil:
    enum:
        DP_PKT_MAX_SOCKS
        DP_PKT_STATS_N

    cdef struct dp_pkt_sock:
        int fd
        uint32_t ifindex
        int peer
        uint64_t stats[10]

    cdef struct dp_pkt_worker:
        uint32_t nsock
        dp_pkt_sock socks[8]
        char err[256]

    int dp_pkt_worker_init(dp_pkt_worker *w, uint32_t batch_cap)
    void dp_pkt_worker_free(dp_pkt_worker *w)
    int dp_pkt_open(dp_pkt_worker *w, uint32_t ifindex, uint32_t block_size, uint32_t nblocks, uint32_t tov_ms,
                    uint32_t fanout_id)
    int dp_pkt_rx(dp_pkt_worker *w, dp_batch *b, int timeout_ms)
    uint32_t dp_pkt_put(dp_pkt_worker *w, dp_batch *b, const uint32_t *idx, uint32_t n)
    void dp_pkt_dispatch(dp_pkt_worker *w, dp_batch *b)
    int dp_pkt_kstats(dp_pkt_sock *s, uint64_t out[3])
    void dp_pkt_cancel(dp_pkt_worker *w)
