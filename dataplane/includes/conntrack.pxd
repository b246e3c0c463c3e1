# C view of the connection table (conntrack/csrc/conntrack.h): tuples,
# entries, timeouts, statistics and the dp_ct_api function table the
# kfuncs call through.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "conntrack.h" nogil:
    enum:
        IP_CT_DIR_ORIGINAL
        IP_CT_DIR_REPLY
        DP_CT_STAT_MAX
        TCP_CONNTRACK_TIMEOUT_MAX
        DP_NF_CONN_SIZE
        DP_CT_API_VERSION
    uint64_t DP_CT_NOW_ANY

    struct dp_ct_tuple:
        uint8_t src[16]
        uint8_t dst[16]
        uint16_t sport
        uint16_t dport
        uint16_t zone
        uint8_t l3
        uint8_t l4

    struct dp_ct_node:
        dp_ct_tuple tuple
        uint32_t hash
        uint8_t dir

    struct dp_ct_table:
        pass

    struct dp_nf_conn:
        uint32_t use
        uint32_t timeout
        unsigned long status
        uint32_t mark
        uint16_t zone
        uint8_t l4
        uint8_t tcp_state
        uint64_t expires_ns
        uint8_t hashed
        uint8_t l3
        uint8_t zone_dir
        dp_ct_node tuplehash[2]

    struct dp_ct_stats:
        uint64_t v[DP_CT_STAT_MAX]
        uint64_t entries
        uint64_t hashed

    struct dp_ct_timeouts:
        uint64_t tcp[TCP_CONNTRACK_TIMEOUT_MAX]
        uint64_t udp_unreplied
        uint64_t udp_replied
        uint64_t icmp
        uint64_t generic

    struct dp_ct_api:
        uint32_t version, size
        dp_nf_conn *(*lookup)(dp_ct_table *, const dp_ct_tuple *, uint64_t, int *) noexcept nogil
        dp_nf_conn *(*alloc)(dp_ct_table *, const dp_ct_tuple *, const dp_ct_tuple *, uint64_t, int *) noexcept nogil
        int (*insert)(dp_ct_table *, dp_nf_conn *, uint64_t) noexcept nogil
        void (*put)(dp_nf_conn *) noexcept nogil
        int (*update)(dp_ct_table *, dp_nf_conn *, int, uint8_t, uint64_t) noexcept nogil
        int (*delete "del")(dp_ct_table *, dp_nf_conn *) noexcept nogil
        uint32_t (*gc_step)(dp_ct_table *, uint64_t, uint32_t) noexcept nogil

    const dp_ct_api dp_ct_api_table "dp_ct_api"

    dp_ct_table *dp_ct_table_create(uint32_t max_entries, const char *name)
    void dp_ct_table_destroy(dp_ct_table *t)
    uint32_t dp_ct_table_max(const dp_ct_table *t)
    uint32_t dp_ct_table_buckets(const dp_ct_table *t)
    uint64_t dp_ct_table_capacity(const dp_ct_table *t)
    int dp_ct_table_reserve(dp_ct_table *t, uint32_t entries)
    void dp_ct_table_set_hz(dp_ct_table *t, uint32_t hz)
    uint32_t dp_ct_table_hz(const dp_ct_table *t)
    uint64_t dp_ct_jiffies(const dp_ct_table *t, uint64_t ns)
    dp_ct_timeouts *dp_ct_table_timeouts(dp_ct_table *t)
    void dp_ct_invert(const dp_ct_tuple *inp, dp_ct_tuple *out)
    dp_nf_conn *dp_ct_lookup(dp_ct_table *t, const dp_ct_tuple *tup, uint64_t now, int *dir)
    dp_nf_conn *dp_ct_alloc(dp_ct_table *t, const dp_ct_tuple *orig, const dp_ct_tuple *reply, uint64_t now, int *err)
    int dp_ct_insert(dp_ct_table *t, dp_nf_conn *ct, uint64_t now)
    void dp_ct_put(dp_nf_conn *ct)
    void dp_ct_get(dp_nf_conn *ct)
    int dp_ct_delete(dp_ct_table *t, dp_nf_conn *ct)
    void dp_ct_set_timeout(dp_nf_conn *ct, uint32_t msecs, uint64_t now)
    int dp_ct_change_timeout(dp_nf_conn *ct, uint32_t msecs, uint64_t now)
    int dp_ct_change_status(dp_nf_conn *ct, uint32_t status)
    int dp_ct_set_nat_info(dp_nf_conn *ct, const uint8_t *addr, int port, int manip)
    uint64_t dp_ct_remaining_ns(const dp_nf_conn *ct, uint64_t now)
    int dp_ct_update(dp_ct_table *t, dp_nf_conn *ct, int dir, uint8_t tcp_flags, uint64_t now)
    dp_nf_conn *dp_ct_in(dp_ct_table *t, const dp_ct_tuple *tup, uint8_t tcp_flags, uint64_t now, int *dir, int *verdict)
    uint32_t dp_ct_gc_step(dp_ct_table *t, uint64_t now, uint32_t budget)
    uint32_t dp_ct_flush(dp_ct_table *t)
    long dp_ct_collect(dp_ct_table *t, uint64_t now, dp_nf_conn ***out)
    void dp_ct_stats_read(dp_ct_table *t, dp_ct_stats *out)
