/* Protocol semantics: tuple inversion, the TCP state machine (the kernel's
 * tcp_conntracks table without window tracking), UDP/ICMP/generic timeout
 * refresh, and the kfunc-level operations on one entry (timeouts, status,
 * NAT info).  Facts from net/netfilter/nf_conntrack_proto_{tcp,udp,icmp}.c,
 * nf_conntrack_core.c and nf_conntrack_bpf.c. */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "ct_impl.h"

/* ---- tuples ---------------------------------------------------------------- */
static uint8_t icmp_reply_type(uint8_t l4, uint8_t type)
{
    if (l4 == DP_CT_IPPROTO_ICMP) {
        switch (type) { /* icmp_pkt_to_tuple invmap */
        case 8: return 0;   /* echo -> echo reply */
        case 13: return 14; /* timestamp */
        case 15: return 16; /* info request */
        case 17: return 18; /* address mask */
        case 0: return 8;
        case 14: return 13;
        case 16: return 15;
        case 18: return 17;
        }
    } else {
        switch (type) { /* icmpv6 invmap */
        case 128: return 129; /* echo request -> reply */
        case 129: return 128;
        case 139: return 140; /* node info query -> response */
        case 140: return 139;
        }
    }
    return type;
}

void dp_ct_invert(const struct dp_ct_tuple *in, struct dp_ct_tuple *out)
{
    struct dp_ct_tuple r;
    memset(&r, 0, sizeof(r));
    memcpy(r.src, in->dst, 16);
    memcpy(r.dst, in->src, 16);
    r.zone = in->zone;
    r.l3 = in->l3;
    r.l4 = in->l4;
    if (in->l4 == DP_CT_IPPROTO_ICMP || in->l4 == DP_CT_IPPROTO_ICMPV6) {
        uint8_t tc[2];
        memcpy(tc, &in->dport, 2);
        tc[0] = icmp_reply_type(in->l4, tc[0]);
        memcpy(&r.dport, tc, 2);
        r.sport = in->sport; /* the id stays */
    } else {
        r.sport = in->dport;
        r.dport = in->sport;
    }
    *out = r;
}

/* ---- TCP state machine ---------------------------------------------------------- */
enum { TCP_SYN_SET, TCP_SYNACK_SET, TCP_FIN_SET, TCP_ACK_SET, TCP_RST_SET, TCP_NONE_SET };

#define sNO TCP_CONNTRACK_NONE
#define sSS TCP_CONNTRACK_SYN_SENT
#define sSR TCP_CONNTRACK_SYN_RECV
#define sES TCP_CONNTRACK_ESTABLISHED
#define sFW TCP_CONNTRACK_FIN_WAIT
#define sCW TCP_CONNTRACK_CLOSE_WAIT
#define sLA TCP_CONNTRACK_LAST_ACK
#define sTW TCP_CONNTRACK_TIME_WAIT
#define sCL TCP_CONNTRACK_CLOSE
#define sS2 TCP_CONNTRACK_SYN_SENT2
#define sIV TCP_CONNTRACK_MAX
#define sIG TCP_CONNTRACK_IGNORE

/* [dir][flag set][old state] -> new state; the kernel's tcp_conntracks. */
static const uint8_t tcp_conntracks[2][6][TCP_CONNTRACK_MAX] = {
    { /* ORIGINAL    sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
      /* syn    */ { sSS, sSS, sIG, sIG, sIG, sIG, sIG, sSS, sSS, sS2 },
      /* synack */ { sIV, sIV, sSR, sIV, sIV, sIV, sIV, sIV, sIV, sSR },
      /* fin    */ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
      /* ack    */ { sES, sIV, sES, sES, sCW, sCW, sTW, sTW, sCL, sIV },
      /* rst    */ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
      /* none   */ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV } },
    { /* REPLY       sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
      /* syn    */ { sIV, sS2, sIV, sIV, sIV, sIV, sIV, sSS, sIV, sS2 },
      /* synack */ { sIV, sSR, sIG, sIG, sIG, sIG, sIG, sIG, sIG, sSR },
      /* fin    */ { sIV, sIV, sFW, sFW, sLA, sLA, sLA, sTW, sCL, sIV },
      /* ack    */ { sIV, sIG, sSR, sES, sCW, sCW, sTW, sTW, sCL, sIG },
      /* rst    */ { sIV, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL, sCL },
      /* none   */ { sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV, sIV } },
};

static unsigned tcp_index(uint8_t f)
{
    if (f & DP_TCP_RST) return TCP_RST_SET;
    if (f & DP_TCP_SYN) return (f & DP_TCP_ACK) ? TCP_SYNACK_SET : TCP_SYN_SET;
    if (f & DP_TCP_FIN) return TCP_FIN_SET;
    if (f & DP_TCP_ACK) return TCP_ACK_SET;
    return TCP_NONE_SET;
}

/* Remove a hashed entry from inside update (RST before reply, reopen). */
static void ct_kill(struct dp_ct_table *t, struct dp_nf_conn *ct)
{
    if (!ct_test_and_set_bit(ct, IPS_DYING_BIT))
        return;
    if (__atomic_load_n(&ct->hashed, __ATOMIC_ACQUIRE))
        ct_kill_claimed(t, ct);
}

static int tcp_packet(struct dp_ct_table *t, struct dp_nf_conn *ct, int dir, uint8_t flags, uint64_t now)
{
    const uint64_t *to = t->to.tcp;
    unsigned index = tcp_index(flags);
    int new_conn = 0;

    ct_entry_lock(ct);
    unsigned old = ct->tcp_state;
    if (old == sNO) {
        /* tcp_new: only a packet that may open a connection creates state;
         * a bare ACK picks up a connection mid-stream (nf_ct_tcp_loose). */
        unsigned ns = tcp_conntracks[0][index][sNO];
        if (ns >= TCP_CONNTRACK_MAX || dir != IP_CT_DIR_ORIGINAL) {
            ct_entry_unlock(ct);
            return DP_CT_INVALID;
        }
        ct->tcp_state = (uint8_t)ns;
        old = ns;
        new_conn = 1;
    }
    unsigned ns = tcp_conntracks[dir][index][old];

    switch (ns) {
    case sSS:
        if (old < sTW)
            break;
        /* SYN on a TIME_WAIT/CLOSE entry: reopen when the old connection was
         * closed (FIN seen) or aborted by the same side; otherwise ignore. */
        if ((ct->tcp_flags & DP_CT_TCPF_CLOSE_INIT) ||
            (ct->tcp_last_dir == dir && ct->tcp_last_index == TCP_RST_SET)) {
            ct_entry_unlock(ct);
            ct_kill(t, ct);
            return DP_CT_REPEAT;
        }
        /* fall through */
    case sIG:
        /* Out of sync: a SYN/ACK answering a SYN we ignored resynchronises. */
        if (index == TCP_SYNACK_SET && ct->tcp_last_index == TCP_SYN_SET && ct->tcp_last_dir != dir) {
            old = sSS;
            ns = sSR;
            break;
        }
        ct->tcp_last_index = (uint8_t)index;
        ct->tcp_last_dir = (uint8_t)dir;
        ct_entry_unlock(ct);
        dp_ct_stat_inc(t, DP_CT_STAT_IGNORE);
        return DP_CT_IGNORED;
    case sIV:
        ct_entry_unlock(ct);
        return DP_CT_INVALID;
    case sS2:
        ct->tcp_flags |= DP_CT_TCPF_SIMUL_OPEN;
        break;
    case sSR:
        if (dir == IP_CT_DIR_REPLY && index == TCP_ACK_SET && (ct->tcp_flags & DP_CT_TCPF_SIMUL_OPEN))
            ns = sES;
        break;
    default:
        break;
    }

    ct->tcp_last_index = (uint8_t)index;
    ct->tcp_last_dir = (uint8_t)dir;
    ct->tcp_state = (uint8_t)ns;
    if (old != ns && ns == sFW)
        ct->tcp_flags |= DP_CT_TCPF_CLOSE_INIT;
    ct_entry_unlock(ct);

    uint64_t timeout = index == TCP_RST_SET ? to[sCL] : to[ns];
    if (!ct_test_bit(ct, IPS_SEEN_REPLY_BIT)) {
        if (index == TCP_RST_SET) {
            /* Only reply is a RST: not a connection, delete at once. */
            ct_kill(t, ct);
            return DP_CT_KILLED;
        }
        /* Do not renew on SYN retransmits (port reuse keeps stale NAT). */
        if (index == TCP_SYN_SET && old == sSS && !new_conn)
            return DP_CT_ACCEPT;
        /* Mid-stream pickup without a reply: avoid the 5 day timeout. */
        if (ns == sES && timeout > to[TCP_CONNTRACK_UNACK])
            timeout = to[TCP_CONNTRACK_UNACK];
    } else if (!ct_test_bit(ct, IPS_ASSURED_BIT) && (old == sSR || old == sES) && ns == sES) {
        ct_set_bit(ct, IPS_ASSURED_BIT);
    }
    ct_refresh(ct, now, timeout);
    return DP_CT_ACCEPT;
}

static int udp_packet(struct dp_ct_table *t, struct dp_nf_conn *ct, uint64_t now)
{
    /* udp_packet: an unconfirmed flow gets a 2 s "stream" deadline; a flow
     * with a reply seen after it becomes a stream: long timeout + ASSURED. */
    if (!__atomic_load_n(&ct->hashed, __ATOMIC_RELAXED) && !ct->udp_stream_ns)
        ct->udp_stream_ns = now + 2000000000ULL;
    if (ct_test_bit(ct, IPS_SEEN_REPLY_BIT)) {
        uint64_t extra = t->to.udp_unreplied;
        int stream = 0;
        if ((int64_t)(now - ct->udp_stream_ns) > 0) {
            extra = t->to.udp_replied;
            stream = !ct_test_bit(ct, IPS_ASSURED_BIT);
        }
        ct_refresh(ct, now, extra);
        if (stream)
            ct_set_bit(ct, IPS_ASSURED_BIT);
    } else {
        ct_refresh(ct, now, t->to.udp_unreplied);
    }
    return DP_CT_ACCEPT;
}

int dp_ct_update(struct dp_ct_table *t, struct dp_nf_conn *ct, int dir, uint8_t tcp_flags, uint64_t now)
{
    int v;
    if (dir != IP_CT_DIR_ORIGINAL && dir != IP_CT_DIR_REPLY)
        return DP_CT_INVALID;
    switch (ct->l4) {
    case DP_CT_IPPROTO_TCP:
        v = tcp_packet(t, ct, dir, tcp_flags, now);
        break;
    case DP_CT_IPPROTO_UDP:
        v = udp_packet(t, ct, now);
        break;
    case DP_CT_IPPROTO_ICMP:
    case DP_CT_IPPROTO_ICMPV6:
        ct_refresh(ct, now, t->to.icmp);
        v = DP_CT_ACCEPT;
        break;
    default:
        ct_refresh(ct, now, t->to.generic);
        v = DP_CT_ACCEPT;
        break;
    }
    if (v == DP_CT_INVALID)
        dp_ct_stat_inc(t, DP_CT_STAT_INVALID);
    /* nf_conntrack_in sets SEEN_REPLY after the protocol handler ran. */
    if (v == DP_CT_ACCEPT && dir == IP_CT_DIR_REPLY && !ct_test_bit(ct, IPS_SEEN_REPLY_BIT))
        ct_set_bit(ct, IPS_SEEN_REPLY_BIT);
    return v;
}

struct dp_nf_conn *dp_ct_in(struct dp_ct_table *t, const struct dp_ct_tuple *tup, uint8_t tcp_flags,
                            uint64_t now, int *dirp, int *verdict)
{
    int dir = IP_CT_DIR_ORIGINAL, v = DP_CT_INVALID;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct dp_nf_conn *ct = dp_ct_lookup(t, tup, now, &dir);
        if (ct) {
            v = dp_ct_update(t, ct, dir, tcp_flags, now);
            if (v == DP_CT_REPEAT) {
                dp_ct_put(ct);
                continue;
            }
            if (dirp) *dirp = dir;
            if (verdict) *verdict = v;
            return ct;
        }
        int err;
        dir = IP_CT_DIR_ORIGINAL;
        ct = dp_ct_alloc(t, tup, NULL, now, &err);
        if (!ct) {
            v = DP_CT_INVALID;
            break;
        }
        v = dp_ct_update(t, ct, IP_CT_DIR_ORIGINAL, tcp_flags, now);
        if (v != DP_CT_ACCEPT) {
            dp_ct_put(ct);
            break;
        }
        int r = dp_ct_insert(t, ct, now);
        if (r == -EEXIST) { /* lost a race with another worker: use theirs */
            dp_ct_put(ct);
            continue;
        }
        dp_ct_stat_inc(t, DP_CT_STAT_NEW);
        if (dirp) *dirp = dir;
        if (verdict) *verdict = v;
        return ct;
    }
    if (dirp) *dirp = dir;
    if (verdict) *verdict = v;
    return NULL;
}

/* ---- kfunc-level operations on one entry -------------------------------------------- */
static void ct_set_timeout_ns(struct dp_nf_conn *ct, uint32_t msecs, uint64_t now)
{
    /* msecs_to_jiffies (2^31 ms and more saturate), then __nf_ct_set_timeout
     * caps at INT_MAX jiffies: absolute once confirmed, relative before */
    uint32_t hz = ct->table->hz;
    uint64_t j = ct_ms_to_jiffies(msecs, hz);
    if (j > INT_MAX)
        j = INT_MAX;
    if (ct_test_bit(ct, IPS_CONFIRMED_BIT)) {
        ct_set_expiry(ct, now + ct_jiffies_to_ns(j, hz));
    } else {
        __atomic_store_n(&ct->expires_ns, now + ct_jiffies_to_ns(j, hz), __ATOMIC_RELAXED);
        ct->timeout = (uint32_t)j;
    }
}

void dp_ct_unconfirm(struct dp_nf_conn *ct, uint16_t zone_id, uint8_t zone_dir)
{
    ct->zone = zone_id;
    ct->zone_dir = zone_dir;
    ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple.zone = (zone_dir & 1) ? zone_id : 0;
    ct->tuplehash[IP_CT_DIR_REPLY].tuple.zone = (zone_dir & 2) ? zone_id : 0;
    __atomic_fetch_and(&ct->status, ~IPS_BIT(IPS_CONFIRMED_BIT), __ATOMIC_RELAXED);
    ct->timeout = 10u * ct->table->hz;
}

void dp_ct_set_timeout(struct dp_nf_conn *ct, uint32_t msecs, uint64_t now) { ct_set_timeout_ns(ct, msecs, now); }

int dp_ct_change_timeout(struct dp_nf_conn *ct, uint32_t msecs, uint64_t now)
{
    if (ct_test_bit(ct, IPS_FIXED_TIMEOUT_BIT))
        return -EPERM;
    ct_set_timeout_ns(ct, msecs, now);
    if (ct_test_bit(ct, IPS_DYING_BIT))
        return -ETIME;
    return 0;
}

int dp_ct_change_status(struct dp_nf_conn *ct, uint32_t status)
{
    unsigned long cur = __atomic_load_n(&ct->status, __ATOMIC_RELAXED);
    unsigned long d = cur ^ status;
    if (d & (IPS_BIT(IPS_EXPECTED_BIT) | IPS_BIT(IPS_CONFIRMED_BIT) | IPS_BIT(IPS_DYING_BIT)))
        return -EBUSY;
    if ((d & IPS_BIT(IPS_SEEN_REPLY_BIT)) && !(status & IPS_BIT(IPS_SEEN_REPLY_BIT)))
        return -EBUSY;
    if ((d & IPS_BIT(IPS_ASSURED_BIT)) && !(status & IPS_BIT(IPS_ASSURED_BIT)))
        return -EBUSY;
    /* __nf_ct_change_status(ct, status, 0): set only, changeable bits only */
    unsigned long on = (unsigned long)status & ~(unsigned long)IPS_UNCHANGEABLE_MASK & ((1UL << IPS_MAX_BIT) - 1);
    __atomic_fetch_or(&ct->status, on, __ATOMIC_RELAXED);
    return 0;
}

int dp_ct_set_nat_info(struct dp_nf_conn *ct, const uint8_t *addr, int port, int manip)
{
    if ((ct->l3 != DP_CT_AF_INET && ct->l3 != DP_CT_AF_INET6) || (manip != 0 && manip != 1))
        return -EINVAL;
    if (__atomic_load_n(&ct->hashed, __ATOMIC_ACQUIRE))
        return -EINVAL; /* only on nf_conn___init, before insertion */
    int done_bit = manip == 0 ? IPS_SRC_NAT_DONE_BIT : IPS_DST_NAT_DONE_BIT;
    if (ct_test_bit(ct, done_bit))
        return -ENOMEM; /* nf_nat_setup_info refuses (NF_DROP) */
    struct dp_ct_tuple *r = &ct->tuplehash[IP_CT_DIR_REPLY].tuple;
    struct dp_ct_tuple before = *r;
    size_t alen = ct->l3 == DP_CT_AF_INET ? 4 : 16;
    int has_port = port > 0 && ct->l4 != DP_CT_IPPROTO_ICMP && ct->l4 != DP_CT_IPPROTO_ICMPV6;
    uint16_t be = (uint16_t)(((unsigned)port & 0xff) << 8 | (((unsigned)port >> 8) & 0xff));
    if (manip == 0) { /* SNAT: replies come back to the new source */
        memset(r->dst, 0, 16);
        memcpy(r->dst, addr, alen);
        if (has_port)
            r->dport = be;
    } else { /* DNAT: replies come from the new destination */
        memset(r->src, 0, 16);
        memcpy(r->src, addr, alen);
        if (has_port)
            r->sport = be;
    }
    if (memcmp(&before, r, sizeof(before)) != 0)
        ct_set_bit(ct, manip == 0 ? IPS_SRC_NAT_BIT : IPS_DST_NAT_BIT);
    ct_set_bit(ct, done_bit);
    return 0;
}

uint64_t dp_ct_remaining_ns(const struct dp_nf_conn *ct, uint64_t now)
{
    int64_t d = (int64_t)(__atomic_load_n(&ct->expires_ns, __ATOMIC_RELAXED) - now);
    return d > 0 ? (uint64_t)d : 0;
}

const struct dp_ct_api dp_ct_api = {
    .version = DP_CT_API_VERSION,
    .size = sizeof(struct dp_ct_api),
    .lookup = dp_ct_lookup,
    .alloc = dp_ct_alloc,
    .insert = dp_ct_insert,
    .put = dp_ct_put,
    .set_timeout = dp_ct_set_timeout,
    .change_timeout = dp_ct_change_timeout,
    .change_status = dp_ct_change_status,
    .set_nat_info = dp_ct_set_nat_info,
    .update = dp_ct_update,
    .in = dp_ct_in,
    .del = dp_ct_delete,
    .gc_step = dp_ct_gc_step,
    .unconfirm = dp_ct_unconfirm,
};
