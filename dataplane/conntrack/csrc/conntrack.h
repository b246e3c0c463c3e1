/* Connection-tracking table: the C API the data path and the conntrack
 * kfunc glue (bpf_xdp_ct_lookup & co.) call.  Modelled on Linux
 * nf_conntrack: entries keyed by their ORIGINAL and REPLY tuples, status
 * bits with the kernel's values, per-protocol timeouts, TCP state machine,
 * reference counting, early drop when full, incremental GC.
 *
 * Sans-I/O: every call that needs time takes `now` (ns on a monotonic clock
 * owned by the caller).  Nothing here reads a clock or sleeps.
 *
 * Thread safety: every function may be called concurrently from several
 * worker threads without the GIL.  Buckets are protected by striped spin
 * locks; an entry's status bits are atomic; its TCP state by a per-entry
 * lock.
 *
 * Reference rules (as nf_conn's ct_general.use):
 *   - dp_ct_lookup / dp_ct_alloc / dp_ct_in return a referenced entry (or
 *     NULL); the caller drops it with dp_ct_put (= bpf_ct_release).
 *   - while hashed, the table holds one more reference of its own;
 *     dp_ct_insert takes it (so after a successful insert the caller's
 *     reference is still valid, like bpf_ct_insert_entry's returned pointer).
 *   - removal (delete, GC, early drop, flush) sets IPS_DYING, unlinks and
 *     drops the table's reference; memory is freed only at use == 0, so an
 *     entry a program holds stays readable until it is released.
 *   - the table itself lives until dp_ct_table_destroy AND the last entry
 *     reference are gone.
 */
#ifndef DP_CONNTRACK_H
#define DP_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constants (kernel values) ------------------------------------------ */

enum { IP_CT_DIR_ORIGINAL = 0, IP_CT_DIR_REPLY = 1, IP_CT_DIR_MAX = 2 };

/* include/uapi/linux/netfilter/nf_conntrack_common.h */
#define IPS_EXPECTED_BIT 0
#define IPS_SEEN_REPLY_BIT 1
#define IPS_ASSURED_BIT 2
#define IPS_CONFIRMED_BIT 3
#define IPS_SRC_NAT_BIT 4
#define IPS_DST_NAT_BIT 5
#define IPS_SEQ_ADJUST_BIT 6
#define IPS_SRC_NAT_DONE_BIT 7
#define IPS_DST_NAT_DONE_BIT 8
#define IPS_DYING_BIT 9
#define IPS_FIXED_TIMEOUT_BIT 10
#define IPS_TEMPLATE_BIT 11
#define IPS_UNTRACKED_BIT 12
#define IPS_HELPER_BIT 13
#define IPS_OFFLOAD_BIT 14
#define IPS_HW_OFFLOAD_BIT 15
#define IPS_MAX_BIT 16
#define IPS_BIT(b) (1UL << (b))
#define IPS_NAT_MASK (IPS_BIT(IPS_SRC_NAT_BIT) | IPS_BIT(IPS_DST_NAT_BIT))
#define IPS_NAT_DONE_MASK (IPS_BIT(IPS_SRC_NAT_DONE_BIT) | IPS_BIT(IPS_DST_NAT_DONE_BIT))
#define IPS_UNCHANGEABLE_MASK                                                                  \
    (IPS_NAT_DONE_MASK | IPS_NAT_MASK | IPS_BIT(IPS_EXPECTED_BIT) | IPS_BIT(IPS_CONFIRMED_BIT) | \
     IPS_BIT(IPS_DYING_BIT) | IPS_BIT(IPS_SEQ_ADJUST_BIT) | IPS_BIT(IPS_TEMPLATE_BIT) |          \
     IPS_BIT(IPS_UNTRACKED_BIT) | IPS_BIT(IPS_OFFLOAD_BIT) | IPS_BIT(IPS_HW_OFFLOAD_BIT))

/* enum tcp_conntrack (uapi nf_conntrack_tcp.h) */
enum dp_tcp_state {
    TCP_CONNTRACK_NONE, TCP_CONNTRACK_SYN_SENT, TCP_CONNTRACK_SYN_RECV,
    TCP_CONNTRACK_ESTABLISHED, TCP_CONNTRACK_FIN_WAIT, TCP_CONNTRACK_CLOSE_WAIT,
    TCP_CONNTRACK_LAST_ACK, TCP_CONNTRACK_TIME_WAIT, TCP_CONNTRACK_CLOSE,
    TCP_CONNTRACK_SYN_SENT2, TCP_CONNTRACK_MAX, TCP_CONNTRACK_IGNORE,
    TCP_CONNTRACK_RETRANS, TCP_CONNTRACK_UNACK, TCP_CONNTRACK_TIMEOUT_MAX
};

/* TCP header flag bits as in the header byte 13: pass them to dp_ct_update. */
#define DP_TCP_FIN 0x01
#define DP_TCP_SYN 0x02
#define DP_TCP_RST 0x04
#define DP_TCP_PSH 0x08
#define DP_TCP_ACK 0x10

#define DP_CT_AF_INET 2
#define DP_CT_AF_INET6 10
#define DP_CT_IPPROTO_ICMP 1
#define DP_CT_IPPROTO_TCP 6
#define DP_CT_IPPROTO_UDP 17
#define DP_CT_IPPROTO_ICMPV6 58

/* The u32 `timeout` field counts jiffies at the table's HZ (the kernel's
 * CONFIG_HZ, dp_ct_table_set_hz) on the caller's clock, as the kernel's
 * absolute nf_conn->timeout: timeout == (uint32_t)floor(expires_ns * HZ / 1e9),
 * the formula bpf_jiffies64 uses, so ct->timeout - bpf_jiffies64() is the
 * remaining lifetime in jiffies in both. */
#define DP_CT_DEFAULT_HZ 250
/* bpf_xdp_ct_alloc gives new entries a 10 s timeout (kernel: 10 * HZ). */
#define DP_CT_ALLOC_TIMEOUT_MS 10000u
/* `now` value meaning "ignore expiry" (control-plane lookups, delete). */
#define DP_CT_NOW_ANY UINT64_MAX
#define DP_CT_DEFAULT_MAX 65536u

/* ---- tuples -------------------------------------------------------------- */

/* 40 bytes, no padding, compared with memcmp: zero unused bytes.
 * Addresses and ports in network byte order.  IPv4 addresses occupy the
 * first 4 bytes of src/dst, the other 12 are zero.  ICMP/ICMPv6: sport holds
 * the echo id, dport holds type (first byte) and code (second byte), as the
 * kernel's nf_conntrack_tuple keeps dst.u.icmp.{type,code}. */
struct dp_ct_tuple {
    uint8_t src[16];
    uint8_t dst[16];
    uint16_t sport;
    uint16_t dport;
    uint16_t zone; /* host order; part of the key */
    uint8_t l3;    /* DP_CT_AF_INET / DP_CT_AF_INET6 */
    uint8_t l4;    /* IPPROTO_* */
};

struct dp_ct_node {               /* one per direction, like nf_conntrack_tuple_hash */
    struct dp_ct_node *next;
    struct dp_ct_tuple tuple;
    uint32_t hash;
    uint8_t dir;
    uint8_t pad[3];
};

struct dp_ct_table;

/* ---- the entry: stable layout (BTF for programs is written against it) ---- */
struct dp_nf_conn {
    uint32_t use;            /* off 0: refcount (atomic) */
    uint32_t timeout;        /* off 4: expiry in jiffies (table HZ), u32 (read-only to programs) */
    unsigned long status;    /* off 8: IPS_* bits, 8 bytes (read-only to programs) */
    uint32_t mark;           /* off 16: the only field programs may write */
    uint16_t zone;           /* off 20 */
    uint8_t l4;              /* off 22: IPPROTO_* */
    uint8_t tcp_state;       /* off 23: enum dp_tcp_state (TCP only) */
    uint64_t expires_ns;     /* off 24: authoritative expiry on the caller's clock */
    struct dp_ct_table *table; /* off 32 */
    uint8_t lock;            /* off 40: per-entry lock for protocol state */
    uint8_t hashed;          /* off 41: linked in the table (internal) */
    uint8_t tcp_last_dir;    /* off 42 */
    uint8_t tcp_last_index;  /* off 43 */
    uint8_t tcp_flags;       /* off 44: DP_CT_TCPF_* */
    uint8_t l3;              /* off 45 */
    uint8_t zone_dir;        /* off 46: NF_CT_ZONE_DIR_* bits the zone applies to */
    uint8_t pad[1];
    uint64_t udp_stream_ns;  /* off 48: UDP "stream" deadline (kernel stream_ts) */
    uint64_t reserved;       /* off 56 */
    struct dp_ct_node tuplehash[IP_CT_DIR_MAX]; /* off 64, 56 bytes each */
};

#define DP_NF_CONN_OFF_USE 0
#define DP_NF_CONN_OFF_TIMEOUT 4
#define DP_NF_CONN_OFF_STATUS 8
#define DP_NF_CONN_OFF_MARK 16
#define DP_NF_CONN_OFF_TUPLEHASH 64
#define DP_NF_CONN_SIZE 176

#define DP_CT_TCPF_CLOSE_INIT 0x01   /* a FIN_WAIT was entered (IP_CT_TCP_FLAG_CLOSE_INIT) */
#define DP_CT_TCPF_SIMUL_OPEN 0x02   /* IP_CT_TCP_SIMULTANEOUS_OPEN */

/* ---- statistics (conntrack -S names + our own) ----------------------------- */
enum dp_ct_stat {
    DP_CT_STAT_SEARCHED, DP_CT_STAT_FOUND, DP_CT_STAT_NEW, DP_CT_STAT_INVALID,
    DP_CT_STAT_IGNORE, DP_CT_STAT_DELETE, DP_CT_STAT_INSERT, DP_CT_STAT_INSERT_FAILED,
    DP_CT_STAT_DROP, DP_CT_STAT_EARLY_DROP, DP_CT_STAT_ERROR, DP_CT_STAT_EXPIRED,
    DP_CT_STAT_GC_RUNS, DP_CT_STAT_MAX
};

struct dp_ct_stats {
    uint64_t v[DP_CT_STAT_MAX];
    uint64_t entries;      /* allocated, not yet freed (nf_conntrack_count) */
    uint64_t hashed;       /* linked in the table */
};

/* Per-protocol timeouts in ns, kernel defaults (nf_conntrack_proto_*.c). */
struct dp_ct_timeouts {
    uint64_t tcp[TCP_CONNTRACK_TIMEOUT_MAX];
    uint64_t udp_unreplied, udp_replied, icmp, generic;
};

/* ---- verdicts of dp_ct_update / dp_ct_in ---------------------------------- */
enum dp_ct_verdict {
    DP_CT_ACCEPT = 0,   /* state/timeout updated */
    DP_CT_IGNORED = 1,  /* packet accepted but state unchanged (kernel sIG) */
    DP_CT_INVALID = 2,  /* invalid for the state machine (kernel sIV), counted */
    DP_CT_KILLED = 3,   /* entry removed (RST before any reply) */
    DP_CT_REPEAT = 4,   /* entry removed to reopen (SYN after close): look up again */
};

/* ---- API ------------------------------------------------------------------ */

/* max_entries 0 = DP_CT_DEFAULT_MAX.  Returns NULL on ENOMEM. */
struct dp_ct_table *dp_ct_table_create(uint32_t max_entries, const char *name);
/* Flushes, then frees once no entry reference remains. */
void dp_ct_table_destroy(struct dp_ct_table *t);
uint32_t dp_ct_table_max(const struct dp_ct_table *t);
uint32_t dp_ct_table_buckets(const struct dp_ct_table *t);
/* Entries the table's storage holds (in use or free): it only grows. */
uint64_t dp_ct_table_capacity(const struct dp_ct_table *t);
/* Map and fault in storage for `entries` entries (and the bucket array)
 * now, so that inserts up to there touch no new page: 0, or -1 (ENOMEM). */
int dp_ct_table_reserve(struct dp_ct_table *t, uint32_t entries);
/* Jiffy rate of the u32 timeouts (default DP_CT_DEFAULT_HZ); set before use. */
void dp_ct_table_set_hz(struct dp_ct_table *t, uint32_t hz);
uint32_t dp_ct_table_hz(const struct dp_ct_table *t);
/* ns -> jiffies and ms -> jiffies (msecs_to_jiffies: rounds up) at the table's HZ. */
uint64_t dp_ct_jiffies(const struct dp_ct_table *t, uint64_t ns);
uint64_t dp_ct_ms_to_jiffies(const struct dp_ct_table *t, uint64_t ms);
/* msecs_to_jiffies of 2^31 ms or more: the kernel's MAX_JIFFY_OFFSET. */
#define DP_CT_MAX_JIFFY_OFFSET ((uint64_t)(INT64_MAX >> 1) - 1)
struct dp_ct_timeouts *dp_ct_table_timeouts(struct dp_ct_table *t);

/* REPLY tuple of an ORIGINAL one: swap addresses/ports; ICMP requests map
 * to their reply type (echo 8 -> 0, ICMPv6 128 -> 129 ...). */
void dp_ct_invert(const struct dp_ct_tuple *in, struct dp_ct_tuple *out);
uint32_t dp_ct_hash(const struct dp_ct_table *t, const struct dp_ct_tuple *tup);

/* Find the entry with either tuple equal to *tup (not DYING, not expired at
 * now unless now == DP_CT_NOW_ANY).  Referenced; *dir (may be NULL) gets
 * IP_CT_DIR_ORIGINAL or IP_CT_DIR_REPLY.  Counts searched/found. */
struct dp_nf_conn *dp_ct_lookup(struct dp_ct_table *t, const struct dp_ct_tuple *tup, uint64_t now, int *dir);

/* New unhashed entry (bpf_xdp_ct_alloc): use 1, status IPS_CONFIRMED (as the
 * kernel's BPF allocation), expiry now + 10 s, tcp state NONE.  reply may be
 * NULL (= dp_ct_invert(orig)).  When the table is full, tries early drop;
 * failing that returns NULL with *err = -ENOMEM and counts `drop`. */
struct dp_nf_conn *dp_ct_alloc(struct dp_ct_table *t, const struct dp_ct_tuple *orig,
                               const struct dp_ct_tuple *reply, uint64_t now, int *err);

/* Link an allocated entry (bpf_ct_insert_entry).  0 on success (table takes
 * its own reference; caller keeps its one), -EEXIST if either tuple is
 * already present (counts insert_failed), -EINVAL if already hashed or
 * dying.  Expired duplicates are reclaimed instead of failing. */
int dp_ct_insert(struct dp_ct_table *t, struct dp_nf_conn *ct, uint64_t now);

/* Drop a reference (bpf_ct_release); frees at zero.  NULL is a no-op. */
void dp_ct_put(struct dp_nf_conn *ct);
/* Take one more reference (caller already holds one). */
void dp_ct_get(struct dp_nf_conn *ct);

/* Remove from the table (sets DYING, unlinks, drops the table reference).
 * 0, or -ENOENT if not hashed or already dying. */
int dp_ct_delete(struct dp_ct_table *t, struct dp_nf_conn *ct);

/* bpf_ct_set_timeout (__nf_ct_set_timeout): msecs_to_jiffies capped at
 * INT_MAX jiffies; a confirmed entry expires now + that, an unconfirmed one
 * keeps it as its relative timeout (dp_ct_insert turns it into an expiry). */
void dp_ct_set_timeout(struct dp_nf_conn *ct, uint32_t msecs, uint64_t now);
/* An entry a BPF program allocates (__bpf_nf_ct_alloc_entry): the zone id
 * applied to the directions in zone_dir (nf_ct_zone_id(zone, dir): insert
 * rehashes), unconfirmed, with a relative timeout of 10 s (10 * HZ jiffies). */
void dp_ct_unconfirm(struct dp_nf_conn *ct, uint16_t zone_id, uint8_t zone_dir);
/* bpf_ct_change_timeout: -EPERM with IPS_FIXED_TIMEOUT, -ETIME (after
 * setting) if DYING, else 0. */
int dp_ct_change_timeout(struct dp_nf_conn *ct, uint32_t msecs, uint64_t now);
/* bpf_ct_set_status / bpf_ct_change_status (nf_ct_change_status_common):
 * -EBUSY if EXPECTED/CONFIRMED/DYING would change, or SEEN_REPLY/ASSURED
 * would be cleared; else sets the changeable bits of status (never clears). */
int dp_ct_change_status(struct dp_nf_conn *ct, uint32_t status);
/* bpf_ct_set_nat_info: manip 0 = SRC (rewrites reply dst), 1 = DST (reply
 * src); addr 16 bytes (IPv4 in the first 4), port host order, <= 0 keeps the
 * port.  -EINVAL bad l3/manip or already hashed, -ENOMEM if that NAT is done. */
int dp_ct_set_nat_info(struct dp_nf_conn *ct, const uint8_t *addr, int port, int manip);
/* Remaining lifetime in ns at now (0 if expired). */
uint64_t dp_ct_remaining_ns(const struct dp_nf_conn *ct, uint64_t now);

/* Data-path packet update for an entry seen in direction dir: TCP state
 * machine (tcp_flags = TCP header flags byte), UDP/ICMP/generic timeout
 * refresh, SEEN_REPLY / ASSURED.  Returns enum dp_ct_verdict. */
int dp_ct_update(struct dp_ct_table *t, struct dp_nf_conn *ct, int dir, uint8_t tcp_flags, uint64_t now);

/* nf_conntrack_in in one call: look up; on a miss allocate, update, insert
 * (counting `new`).  Returns the referenced entry or NULL (invalid first
 * packet, table full); *dir and *verdict (may be NULL) report the result. */
struct dp_nf_conn *dp_ct_in(struct dp_ct_table *t, const struct dp_ct_tuple *tup, uint8_t tcp_flags,
                            uint64_t now, int *dir, int *verdict);

/* Incremental GC: scan `budget` buckets from a shared cursor, removing
 * expired entries.  Returns the number removed.  Counts gc_runs/expired. */
uint32_t dp_ct_gc_step(struct dp_ct_table *t, uint64_t now, uint32_t budget);
/* Remove every entry; returns how many. */
uint32_t dp_ct_flush(struct dp_ct_table *t);

/* Snapshot for listing: referenced pointers of live entries (ORIGINAL node
 * only, not expired at now).  *out is malloc'ed (free() it after putting
 * each entry); returns the count or -ENOMEM. */
long dp_ct_collect(struct dp_ct_table *t, uint64_t now, struct dp_nf_conn ***out);

void dp_ct_stats_read(struct dp_ct_table *t, struct dp_ct_stats *out);
void dp_ct_stat_inc(struct dp_ct_table *t, int which);

/* Function table for code that cannot link against this object (JIT'd .so):
 * the glue gets its address from the Python module (api_address()). */
struct dp_ct_api {
    uint32_t version, size;
    struct dp_nf_conn *(*lookup)(struct dp_ct_table *, const struct dp_ct_tuple *, uint64_t, int *);
    struct dp_nf_conn *(*alloc)(struct dp_ct_table *, const struct dp_ct_tuple *, const struct dp_ct_tuple *, uint64_t, int *);
    int (*insert)(struct dp_ct_table *, struct dp_nf_conn *, uint64_t);
    void (*put)(struct dp_nf_conn *);
    void (*set_timeout)(struct dp_nf_conn *, uint32_t, uint64_t);
    int (*change_timeout)(struct dp_nf_conn *, uint32_t, uint64_t);
    int (*change_status)(struct dp_nf_conn *, uint32_t);
    int (*set_nat_info)(struct dp_nf_conn *, const uint8_t *, int, int);
    int (*update)(struct dp_ct_table *, struct dp_nf_conn *, int, uint8_t, uint64_t);
    struct dp_nf_conn *(*in)(struct dp_ct_table *, const struct dp_ct_tuple *, uint8_t, uint64_t, int *, int *);
    int (*del)(struct dp_ct_table *, struct dp_nf_conn *);
    uint32_t (*gc_step)(struct dp_ct_table *, uint64_t, uint32_t);
    void (*unconfirm)(struct dp_nf_conn *, uint16_t, uint8_t);
};
#define DP_CT_API_VERSION 1
extern const struct dp_ct_api dp_ct_api;

#ifdef __cplusplus
}
#endif
#endif /* DP_CONNTRACK_H */
