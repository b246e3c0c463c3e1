"""Conntrack table: tuples, lookups by direction, insert/alloc semantics of
the kfuncs, full table + early drop, reference counting, GC, stats."""
import errno
import os

import pytest

from dataplane.conntrack.consts import (IP_CT_DIR_ORIGINAL, IP_CT_DIR_REPLY, IPS_ASSURED, IPS_CONFIRMED,
                                        IPS_DST_NAT, IPS_DST_NAT_DONE, IPS_DYING, IPS_FIXED_TIMEOUT,
                                        IPS_SEEN_REPLY, IPS_SRC_NAT, IPS_SRC_NAT_DONE, TCP_ACK, TCP_SYN)
from dataplane.conntrack.table import ENTRY_SIZE, OFFSETS, ConntrackTable, api_address
from dataplane.conntrack.tuples import CtTuple
from dataplane.errors import AlreadyExists, DataplaneError, NotFound

S = 1_000_000_000
T0 = 1000 * S


def udp(i=1, zone=0):
    return CtTuple("udp", "10.0.0.1", "10.0.0.2", 1000 + i, 53, zone)


def test_tuple_pack_roundtrip_v4_v6_icmp():
    for t in (udp(), CtTuple("tcp", "2001:db8::1", "2001:db8::2", 1, 443, 7), CtTuple.icmp("10.0.0.1", "10.0.0.2", 77)):
        raw = t.pack()
        assert len(raw) == 40
        assert CtTuple.unpack(raw) == t
    assert udp().pack()[4:16] == bytes(12)  # IPv4 in the first 4 bytes only
    assert udp().pack()[32:34] == (1001).to_bytes(2, "big")  # ports in network order


def test_insert_lookup_both_directions():
    t = ConntrackTable(1024)
    t.insert(udp(), T0)
    c = t.lookup(udp(), T0)
    assert c is not None and c.dir == IP_CT_DIR_ORIGINAL
    assert c.orig == udp() and c.reply == CtTuple("udp", "10.0.0.2", "10.0.0.1", 53, 1001)
    r = t.lookup(c.reply, T0)
    assert r is not None and r.dir == IP_CT_DIR_REPLY and r.address == c.address
    assert t.lookup(udp(2), T0) is None
    assert t.lookup(udp(zone=1), T0) is None  # zone is part of the key
    st = t.stats()
    assert (st["searched"], st["found"], st["insert"], st["entries"]) == (4, 2, 1, 1)
    assert len(t) == 1


def test_ipv6_and_icmp_reply_type():
    t = ConntrackTable(64)
    v6 = CtTuple("tcp", "2001:db8::1", "2001:db8::2", 4000, 443)
    t.insert(v6, T0)
    c = t.lookup(CtTuple("tcp", "2001:db8::2", "2001:db8::1", 443, 4000), T0)
    assert c.dir == IP_CT_DIR_REPLY and c.orig == v6
    echo = CtTuple.icmp("10.0.0.1", "10.0.0.2", 77, type=8)
    t.insert(echo, T0)
    reply = t.lookup(CtTuple.icmp("10.0.0.2", "10.0.0.1", 77, type=0), T0)
    assert reply is not None and reply.dir == IP_CT_DIR_REPLY
    e6 = CtTuple.icmp("2001:db8::1", "2001:db8::2", 5, type=128)
    t.insert(e6, T0)
    assert t.lookup(CtTuple.icmp("2001:db8::2", "2001:db8::1", 5, type=129), T0).dir == IP_CT_DIR_REPLY


def test_double_insert_eexist_and_reply_collision():
    t = ConntrackTable(64)
    t.insert(udp(), T0)
    with pytest.raises(AlreadyExists):
        t.insert(udp(), T0)
    # An entry whose ORIGINAL equals an existing REPLY tuple collides too.
    c = t.alloc(CtTuple("udp", "10.0.0.2", "10.0.0.1", 53, 1001), T0)
    with pytest.raises(DataplaneError) as ei:
        c.insert(T0)
    assert ei.value.kind == errno.EEXIST
    c.release()
    st = t.stats()
    assert st["insert"] == 1 and st["insert_failed"] == 2 and st["entries"] == 1


def test_alloc_is_unconfirmed_until_insert_like_bpf_ct_alloc():
    t = ConntrackTable(64)
    c = t.alloc(udp(), T0)
    assert c.status == IPS_CONFIRMED  # kernel's BPF alloc sets CONFIRMED
    assert not c.hashed and c.use == 1
    assert c.remaining_ns(T0) == 10 * S  # bpf_xdp_ct_alloc default 10 s
    assert t.lookup(udp(), T0) is None
    assert t.stats()["entries"] == 1  # counted while allocated
    c.set_timeout(5000, T0)
    assert c.remaining_ns(T0) == 5 * S and c.timeout == (T0 + 5 * S) * t.hz // S & 0xFFFFFFFF
    c.mark = 42
    c.insert(T0)
    assert c.hashed and c.use == 2
    c.release()
    found = t.lookup(udp(), T0)
    assert found.mark == 42 and found.use == 2
    found.release()
    t.flush()
    assert t.stats()["entries"] == 0


def test_status_kfunc_semantics():
    t = ConntrackTable(64)
    c = t.alloc(udp(), T0)
    assert c.change_status(IPS_SEEN_REPLY) == -errno.EBUSY  # would clear CONFIRMED
    assert c.change_status(IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED) == 0
    assert c.status == IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED
    assert c.change_status(IPS_CONFIRMED | IPS_SEEN_REPLY) == -errno.EBUSY  # ASSURED only settable
    assert c.change_status(IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED | IPS_SRC_NAT) == 0
    assert not c.status & IPS_SRC_NAT  # unchangeable bits are ignored
    assert c.change_status(c.status | IPS_FIXED_TIMEOUT) == 0
    assert c.change_timeout(1000, T0) == -errno.EPERM
    c.release()


def test_change_timeout_on_dying_entry_returns_etime():
    t = ConntrackTable(64)
    t.insert(udp(), T0)
    c = t.lookup(udp(), T0)
    assert c.change_timeout(60_000, T0) == 0 and c.remaining_ns(T0) == 60 * S
    t.delete(udp())
    assert c.status & IPS_DYING
    assert c.change_timeout(1000, T0) == -errno.ETIME
    c.release()


def test_nat_info_rewrites_reply_tuple():
    t = ConntrackTable(64)
    c = t.alloc(CtTuple("tcp", "10.0.0.1", "198.51.100.7", 40000, 80), T0)
    assert c.set_nat_info("192.0.2.1", 50000, 0) == 0  # SNAT
    assert c.set_nat_info("192.0.2.9", 0, 0) == -errno.ENOMEM  # already done
    assert c.set_nat_info("10.9.9.9", 8080, 1) == 0  # DNAT
    assert c.status & (IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_DST_NAT | IPS_DST_NAT_DONE) == \
        IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_DST_NAT | IPS_DST_NAT_DONE
    assert c.reply == CtTuple("tcp", "10.9.9.9", "192.0.2.1", 8080, 50000)
    c.insert(T0)
    assert c.set_nat_info("192.0.2.2", 1, 0) == -errno.EINVAL  # only before insertion
    r = t.lookup(CtTuple("tcp", "10.9.9.9", "192.0.2.1", 8080, 50000), T0)
    assert r.dir == IP_CT_DIR_REPLY and r.address == c.address
    c.release()
    r.release()


def test_refcount_entry_survives_removal_while_held():
    t = ConntrackTable(64)
    t.insert(udp(), T0, mark=7)
    c = t.lookup(udp(), T0)
    assert c.use == 2  # table + us
    t.delete(udp())
    assert t.lookup(udp(), T0) is None
    assert c.use == 1 and c.status & IPS_DYING and not c.hashed
    assert c.mark == 7 and c.orig == udp()  # still readable
    assert t.stats()["entries"] == 1 and len(t) == 0  # memory held, not hashed
    with pytest.raises(NotFound):
        t.delete(udp())
    assert not c.delete()
    c.release()
    assert t.stats()["entries"] == 0
    assert c.released
    with pytest.raises(DataplaneError):
        c.status


def test_table_outlives_its_python_object_while_entries_held():
    t = ConntrackTable(64)
    t.insert(udp(), T0)
    c = t.lookup(udp(), T0)
    del t  # Conn keeps the Python table alive; C side also refcounts
    assert c.orig == udp()
    c.release()


def test_full_table_early_drop_and_drop():
    t = ConntrackTable(16)
    for i in range(16):
        t.insert(udp(i), T0)  # not ASSURED -> early-droppable
    assert t.stats()["entries"] == 16
    t.insert(udp(100), T0)  # evicts one non-assured entry near its bucket
    st = t.stats()
    assert st["early_drop"] == 1 and st["entries"] == 16 and st["drop"] == 0
    assert t.lookup(udp(100), T0) is not None

    full = ConntrackTable(16)
    for i in range(16):
        full.insert(udp(i), T0, status=IPS_SEEN_REPLY | IPS_ASSURED)
    with pytest.raises(DataplaneError) as ei:
        full.insert(udp(100), T0)
    assert ei.value.kind == errno.ENOMEM
    st = full.stats()
    assert st["drop"] == 1 and st["early_drop"] == 0 and st["entries"] == 16
    # Expired entries are reclaimed instead (even if assured).
    full.insert(udp(200), T0 + 11 * S)
    assert full.stats()["expired"] >= 1


def test_expiry_lookup_and_incremental_gc():
    t = ConntrackTable(1024)
    for i in range(100):
        t.insert(udp(i), T0, timeout_ms=1000 if i % 2 else 60_000)
    assert t.lookup(udp(1), T0 + 2 * S) is None  # expired entries are not found
    assert t.lookup(udp(0), T0 + 2 * S) is not None
    removed = 0
    steps = 0
    while steps * 64 < t.buckets:
        removed += t.gc(T0 + 2 * S, 64)
        steps += 1
    assert removed + 1 == 50  # one was reclaimed by the lookup
    assert len(t) == 50
    assert all(e["orig"]["sport"] % 2 == 0 for e in t.entries(T0 + 2 * S))
    st = t.stats()
    assert st["gc_runs"] == steps and st["expired"] == 50
    assert t.gc(T0 + 61 * S) == 50 and len(t) == 0


def test_reinsert_over_expired_duplicate():
    t = ConntrackTable(64)
    t.insert(udp(), T0, timeout_ms=1000)
    t.insert(udp(), T0 + 5 * S)  # the stale one is reclaimed, not EEXIST
    assert len(t) == 1 and t.stats()["insert_failed"] == 0


def test_flush_and_entries_dicts():
    t = ConntrackTable(64)
    t.insert(udp(1), T0, mark=3)
    t.insert(CtTuple("tcp", "10.0.0.1", "10.0.0.2", 1, 2, 9), T0)
    es = sorted(t.entries(T0), key=lambda e: e["protonum"])
    assert [e["proto"] for e in es] == ["tcp", "udp"]
    assert es[0]["zone"] == 9 and es[0]["state"] == "NONE" and es[1]["state"] is None
    assert es[1]["mark"] == 3 and es[1]["use"] == 1 and es[1]["timeout_s"] == 10
    assert es[1]["flags"] == ["CONFIRMED"]
    assert t.flush() == 2 and t.entries(T0) == []


def test_layout_and_addresses():
    t = ConntrackTable(64)
    assert t.address != 0 and api_address() != 0
    assert OFFSETS == {"use": 0, "timeout": 4, "status": 8, "mark": 16, "tuplehash": 64}
    assert t.max_entries == 64
    assert ConntrackTable().max_entries == 65536
    to = t.timeouts()
    assert (to["tcp_established"], to["tcp_syn_sent"], to["tcp_time_wait"], to["udp_unreplied"], to["udp_replied"],
            to["icmp"], to["generic"], to["tcp_unack"]) == (432000, 120, 120, 30, 120, 30, 600, 300)


def test_process_creates_and_counts_new():
    t = ConntrackTable(64)
    tup = CtTuple("tcp", "10.0.0.1", "10.0.0.2", 5, 6)
    c, d, v = t.process(tup, TCP_SYN, T0)
    assert c is not None and v == 0 and c.state == "SYN_SENT"
    c.release()
    c, d, v = t.process(CtTuple("tcp", "10.0.0.3", "10.0.0.2", 5, 6), 0, T0)  # no flags: invalid
    assert c is None and v == 2
    st = t.stats()
    assert st["new"] == 1 and st["invalid"] == 1 and len(t) == 1
    c, d, v = t.process(CtTuple("tcp", "10.0.0.4", "10.0.0.2", 5, 6), TCP_ACK, T0)  # loose pickup
    assert c.state == "ESTABLISHED" and c.remaining_ns(T0) == 300 * S  # UNACK cap without reply
    c.release()


def test_fields_at_documented_offsets_and_api_table():
    import ctypes
    t = ConntrackTable(64)
    t.insert(udp(), T0, mark=0xABCD, timeout_ms=30_000)
    c = t.lookup(udp(), T0)
    base = c.address
    assert ctypes.c_uint32.from_address(base + OFFSETS["use"]).value == c.use == 2
    assert ctypes.c_uint32.from_address(base + OFFSETS["timeout"]).value == ((T0 + 30 * S) * t.hz // S) & 0xFFFFFFFF
    assert ctypes.c_uint64.from_address(base + OFFSETS["status"]).value == c.status
    ctypes.c_uint32.from_address(base + OFFSETS["mark"]).value = 99  # what a program's store does
    assert c.mark == 99
    raw = ctypes.string_at(base + OFFSETS["tuplehash"] + 8, 40)  # node: next pointer, then the tuple
    assert CtTuple.unpack(raw) == udp()
    version, size = ctypes.c_uint32.from_address(api_address()).value, ctypes.c_uint32.from_address(api_address() + 4).value
    assert version == 1 and size == 8 + 13 * 8          # 13 entry points, the last dp_ct_unconfirm
    c.release()


def _minor_faults_of(fn) -> tuple[int, object]:
    """Minor page faults of this thread while fn() runs, and its result."""
    import resource
    before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    r = fn()
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before, r


def test_preallocated_table_inserts_touch_no_new_page():
    """A table preallocates (the default): the storage of max_entries entries
    is mapped and faulted in at creation, so filling it grows nothing and
    takes (almost) no page faults, where a lazily mapped table of the same
    size faults in a page per ~21 entries as it fills."""
    from dataplane.conntrack.workload import run_inserts
    n = 40000
    pages = n * ENTRY_SIZE // 4096              # what the entries alone span
    lazy = ConntrackTable(n, prealloc=False)
    lazy_faults, done = _minor_faults_of(lambda: run_inserts(lazy, 0, n, T0))
    assert done == n and lazy_faults >= pages // 2, (lazy_faults, pages)   # the probe sees faults
    t = ConntrackTable(n)
    cap = t.entry_capacity
    assert cap >= n
    faults, done = _minor_faults_of(lambda: run_inserts(t, 0, n, T0))
    assert done == n and t.stats()["entries"] == n and t.entry_capacity == cap
    assert faults * 4 < lazy_faults, (faults, lazy_faults)
    if not os.environ.get("DP_SANITIZE"):       # ASan's shadow of the entries faults on first use
        assert faults < pages // 20, (faults, pages)


def test_entry_memory_is_kept_and_reused():
    """The slab maps entry memory once and hands freed entries out again,
    zeroed: flushing and refilling a table, or releasing the last
    reference of a deleted entry, never grows its storage."""
    from dataplane.conntrack.workload import run_inserts, synth_tuple
    t = ConntrackTable(20000, prealloc=False)
    assert t.entry_capacity == 0                # nothing mapped before the first entry
    assert run_inserts(t, 0, 12000, T0) == 12000
    cap = t.entry_capacity
    assert cap >= 12000
    for gen in range(1, 4):
        assert t.flush() == 12000 and t.stats()["entries"] == 0
        assert run_inserts(t, gen * 100000, 12000, T0) == 12000
        assert t.entry_capacity == cap
    held = [t.lookup(synth_tuple(300000 + i, 17), T0) for i in range(0, 12000, 997)]
    assert all(c is not None for c in held)
    t.flush()
    assert t.stats()["entries"] == len(held)    # held entries stay allocated ...
    assert run_inserts(t, 400000, 12000 - len(held), T0) == 12000 - len(held)
    assert t.entry_capacity == cap
    for c in held:
        assert c.orig == synth_tuple(300000 + held.index(c) * 997, 17)   # ... and readable
        c.release()
    t.insert(udp(), T0, mark=9)                 # a fresh entry reads as new
    c = t.lookup(udp(), T0)
    assert c.mark == 9 and c.use == 2 and c.status == IPS_CONFIRMED and t.entry_capacity == cap
    c.release()
