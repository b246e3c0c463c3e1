# cython: language_level=3
"""Native nogil workloads over a ConntrackTable, for the concurrency tests
(tests/test_conntrack_concurrency.py, _stress_flush, _gc_live) and
benchmarks/conntrack_table.py.  They must run without the GIL, so they are
Cython loops, kept out of table.pyx (the table's API) and calling the table
only through its ``struct dp_ct_api`` function table -- the entry points a
JIT'd program's kfuncs use -- so this module compiles none of the conntrack C.

Key i is the UDP tuple 10.(i>>16).(i>>8).i:(1024 + ...) -> 192.0.2.1:80
(``synth_tuple(i)`` returns it as a CtTuple)."""
from libc.stdint cimport uint8_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcpy, memset

from dataplane.conntrack.table cimport ConntrackTable, dp_ct_api, dp_ct_tuple, dp_nf_conn

from dataplane.conntrack.table import api_address
from dataplane.conntrack.tuples import CtTuple

cdef const dp_ct_api *_api = <const dp_ct_api *><uintptr_t>api_address()


cdef inline void _synth_tuple(dp_ct_tuple *t, uint32_t i, uint8_t l4) noexcept nogil:
    memset(t, 0, sizeof(dp_ct_tuple))
    t.src[0] = 10
    t.src[1] = (i >> 16) & 0xff
    t.src[2] = (i >> 8) & 0xff
    t.src[3] = i & 0xff
    t.dst[0] = 192
    t.dst[2] = 2
    t.dst[3] = 1
    cdef uint32_t p = 1024 + (i >> 24) * 1000 + (i % 997)
    t.sport = ((p & 0xff) << 8) | (p >> 8)
    t.dport = 80 << 8
    t.l3 = 2
    t.l4 = l4


cdef inline void _reply_of(const dp_ct_tuple *t, dp_ct_tuple *r) noexcept nogil:
    """The reply tuple of a synthetic UDP/TCP tuple: addresses and ports swapped
    (what dp_ct_invert gives for them)."""
    r[0] = t[0]
    memcpy(r.src, t.dst, 16)
    memcpy(r.dst, t.src, 16)
    r.sport = t.dport
    r.dport = t.sport


def synth_tuple(uint32_t i, uint8_t l4=17):
    """The CtTuple the nogil workloads use for key i."""
    cdef dp_ct_tuple t
    _synth_tuple(&t, i, l4)
    return CtTuple.unpack((<const char *>&t)[:sizeof(dp_ct_tuple)])


def run_inserts(ConntrackTable table, uint32_t first, uint32_t count, uint64_t now):
    """Insert keys [first, first+count) (UDP) without the GIL; returns inserted."""
    cdef dp_ct_tuple t
    cdef dp_nf_conn *ct
    cdef uint32_t i, ok = 0
    cdef int err
    with nogil:
        for i in range(first, first + count):
            _synth_tuple(&t, i, 17)
            ct = _api.alloc(table._t, &t, NULL, now, &err)
            if ct == NULL:
                continue
            if _api.insert(table._t, ct, now) == 0:
                ok += 1
            _api.put(ct)
    return ok


def run_lookups(ConntrackTable table, uint32_t first, uint32_t count, uint32_t rounds, uint64_t now, bint reply=False):
    """Look keys [first, first+count) up `rounds` times without the GIL;
    returns hits.  reply=True looks up by the reply tuple."""
    cdef dp_ct_tuple t, r
    cdef dp_nf_conn *ct
    cdef uint32_t i, k, hits = 0
    cdef int dir
    with nogil:
        for k in range(rounds):
            for i in range(first, first + count):
                _synth_tuple(&t, i, 17)
                if reply:
                    _reply_of(&t, &r)
                    ct = _api.lookup(table._t, &r, now, &dir)
                else:
                    ct = _api.lookup(table._t, &t, now, &dir)
                if ct != NULL:
                    hits += 1
                    _api.put(ct)
    return hits


def run_mixed(ConntrackTable table, uint32_t seed, uint32_t iterations, uint32_t keyspace, uint64_t now):
    """Random lookups / inserts / deletes / updates over `keyspace` keys without
    the GIL, holding each looked-up entry across the next operation (so
    entries get deleted while referenced).  Returns (lookups_hit, inserts, deletes)."""
    cdef dp_ct_tuple t
    cdef dp_nf_conn *ct
    cdef dp_nf_conn *held = NULL
    cdef uint64_t x = seed * 2654435761u + 1
    cdef uint32_t n, key, op, hit = 0, ins = 0, dels = 0
    cdef int dir, err
    with nogil:
        for n in range(iterations):
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            key = <uint32_t>(x % keyspace)
            op = <uint32_t>((x >> 32) % 8)
            _synth_tuple(&t, key, 17)
            if op < 4:
                ct = _api.lookup(table._t, &t, now, &dir)
                if ct != NULL:
                    hit += 1
                    _api.update(table._t, ct, dir, 0, now)
                    # a program reads fields of an entry it holds: must stay valid
                    if ct.tuplehash[0].tuple.l4 != 17:
                        hit += 1000000000
                    if held != NULL:
                        _api.put(held)
                    held = ct
            elif op < 6:
                ct = _api.alloc(table._t, &t, NULL, now, &err)
                if ct != NULL:
                    if _api.insert(table._t, ct, now) == 0:
                        ins += 1
                    _api.put(ct)
            elif op < 7:
                ct = _api.lookup(table._t, &t, now, &dir)
                if ct != NULL:
                    if _api.delete(table._t, ct) == 0:
                        dels += 1
                    _api.put(ct)
            else:
                _api.gc_step(table._t, now, 4)
        if held != NULL:
            _api.put(held)
    return hit, ins, dels
