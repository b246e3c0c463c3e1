"""Map semantics that need no kernel: concurrency, ring buffer records,
per-CPU program-side views, LRU eviction order, and the C ABI's pointers."""
from __future__ import annotations

import ctypes
import errno
import struct
import threading

import pytest

from dataplane.abi import maps as A
from dataplane.errors import MapError
from dataplane.maps import Map, get_current_cpu, set_current_cpu
from dataplane.maps.workload import stress


def u32(i):
    return struct.pack("<I", i)


# ---------------------------------------------------------------- concurrency

@pytest.mark.parametrize("mtype,flags", [
    (A.BPF_MAP_TYPE_HASH, 0),
    (A.BPF_MAP_TYPE_LRU_HASH, 0),
    (A.BPF_MAP_TYPE_PERCPU_HASH, 0),
    (A.BPF_MAP_TYPE_HASH, A.BPF_F_NO_PREALLOC),
])
def test_concurrent_update_delete_lookup(mtype, flags):
    """Four threads hammer one map through the nogil C ABI.

    Values start with their key, so a lookup that lands on another key's
    element shows up.  Preallocated elements may be recycled under a reader
    (the kernel's contract too), so a handful of such reads is tolerated;
    the map must end consistent: every key present maps to its own value and
    the element count stays within max_entries.
    """
    m = Map(mtype, 4, 16, 64, flags)
    results = []

    def worker(seed, cpu):
        results.append(stress(m, 96, 300_000, seed, cpu % m.nr_cpus))

    threads = [threading.Thread(target=worker, args=(i * 7919 + 1, i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    upd = sum(r[0] for r in results)
    hits = sum(r[2] for r in results)
    corrupt = sum(r[3] for r in results)
    assert upd > 10_000 and hits > 10_000
    assert corrupt <= max(10, hits // 1000), f"{corrupt} lookups saw another key's value"
    keys = m.keys()
    assert len(keys) == len(set(keys)) <= 64
    for key in keys:
        assert m.prog_lookup(key, 0 if mtype == A.BPF_MAP_TYPE_PERCPU_HASH else None) is not None
        value = m.lookup(key)
        k = struct.unpack_from("<I", key)[0]
        if mtype == A.BPF_MAP_TYPE_PERCPU_HASH:
            # each CPU slot that was written holds this key
            slots = [value[i * 16:(i + 1) * 16] for i in range(m.nr_cpus)]
            assert any(struct.unpack_from("<I", s)[0] == k + 1 for s in slots)
            assert all(struct.unpack_from("<I", s)[0] in (0, k + 1) for s in slots)
        else:
            assert struct.unpack_from("<I", value)[0] == k + 1
    # a full drain leaves an empty, reusable map
    for key in keys:
        m.delete(key)
    assert m.keys() == []
    for i in range(64):
        m.update(u32(i), bytes(m.sys_value_size))
    if mtype != A.BPF_MAP_TYPE_LRU_HASH:
        with pytest.raises(MapError) as e:
            m.update(u32(1000), bytes(m.sys_value_size))
        assert e.value.kind == errno.E2BIG


def test_concurrent_lpm_and_queue():
    lpm = Map(A.BPF_MAP_TYPE_LPM_TRIE, 8, 8, 256, A.BPF_F_NO_PREALLOC)
    q = Map(A.BPF_MAP_TYPE_QUEUE, 0, 8, 1024)
    errors = []

    def writer(base):
        try:
            for rnd in range(30):
                for i in range(64):
                    key = struct.pack("<I", 24) + bytes([10, base, i, 0])
                    lpm.update(key, struct.pack("<Q", base * 1000 + i))
                    q.push(struct.pack("<Q", base * 1000 + i), A.BPF_EXIST)
                for i in range(0, 64, 2):
                    lpm.delete(struct.pack("<I", 24) + bytes([10, base, i, 0]))
                for i in range(0, 64, 2):
                    lpm.update(struct.pack("<I", 24) + bytes([10, base, i, 0]), struct.pack("<Q", base * 1000 + i))
        except Exception as e:  # surfaced below
            errors.append(e)

    def reader():
        for _ in range(20_000):
            base, i = 1 + (_ % 3), _ % 64
            v = lpm.prog_lookup(struct.pack("<I", 32) + bytes([10, base, i, 7]))
            if v is not None and struct.unpack("<Q", v)[0] != base * 1000 + i:
                errors.append(AssertionError(f"lpm returned {v!r} for {base}.{i}"))
                return

    ts = [threading.Thread(target=writer, args=(b,)) for b in (1, 2, 3)] + [threading.Thread(target=reader)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:3]
    assert len(lpm.keys()) == 3 * 64
    popped = 0
    while True:
        try:
            q.pop()
        except MapError as e:
            assert e.kind == errno.ENOENT
            break
        popped += 1
    assert popped == 1024


# ---------------------------------------------------------------- ring buffer

def test_ringbuf_records_in_order_with_discard_and_busy():
    rb = Map(A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)
    assert rb.query(A.BPF_RB_RING_SIZE) == 4096
    rb.output(b"first")
    s1 = rb.reserve(3)
    s2 = rb.reserve(10)
    rb.write_sample(s2, b"0123456789")
    rb.submit(s2)
    # s1 is still BUSY: the consumer must stop in front of it
    assert rb.consume() == [b"first"]
    # header layout: len with BUSY bit, pg_off naming the metadata page
    hdr_len, pg_off = struct.unpack("<II", ctypes.string_at(s1 - 8, 8))
    assert hdr_len == 3 | A.BPF_RINGBUF_BUSY_BIT and pg_off >= 1
    rb.discard(s1)
    hdr_len, _ = struct.unpack("<II", ctypes.string_at(s1 - 8, 8))
    assert hdr_len == 3 | A.BPF_RINGBUF_DISCARD_BIT
    assert rb.consume() == [b"0123456789"]
    # positions advance by round_up(len + 8, 8)
    assert rb.query(A.BPF_RB_PROD_POS) == 16 + 16 + 24
    assert rb.query(A.BPF_RB_CONS_POS) == rb.query(A.BPF_RB_PROD_POS)
    assert rb.query(A.BPF_RB_AVAIL_DATA) == 0


def test_ringbuf_full_wraps_and_flags():
    rb = Map(A.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)
    assert rb.reserve(8, 1) is None          # reserve takes no flags
    assert rb.reserve(4096) is None          # larger than the ring
    with pytest.raises(MapError) as e:
        rb.output(b"x", 4)
    assert e.value.kind == errno.EINVAL
    sent = []
    for rnd in range(20):
        # fill until EAGAIN, then drain: records cross the wrap point
        n = 0
        while True:
            rec = bytes([rnd, n]) * (50 + (n * 7) % 200)
            try:
                rb.output(rec, A.BPF_RB_NO_WAKEUP)
            except MapError as e:
                assert e.value.kind if False else e.kind == errno.EAGAIN
                break
            sent.append(rec)
            n += 1
        assert n > 5
        got = rb.consume()
        assert got == sent
        sent.clear()


def test_ringbuf_concurrent_producers():
    rb = Map(A.BPF_MAP_TYPE_RINGBUF, 0, 0, 1 << 16)
    received = []
    done = threading.Event()

    def producer(tag):
        for i in range(3000):
            rec = struct.pack("<II", tag, i)
            while True:
                try:
                    rb.output(rec)
                    break
                except MapError:
                    pass

    def consumer():
        while not done.is_set() or rb.query(A.BPF_RB_AVAIL_DATA):
            received.extend(rb.consume())

    c = threading.Thread(target=consumer)
    c.start()
    ps = [threading.Thread(target=producer, args=(t,)) for t in range(3)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    done.set()
    c.join()
    received.extend(rb.consume())
    per_tag = {}
    for rec in received:
        tag, i = struct.unpack("<II", rec)
        per_tag.setdefault(tag, []).append(i)
    # every record arrives once, and each producer's records in its order
    assert {t: v for t, v in per_tag.items()} == {t: list(range(3000)) for t in range(3)}


# ---------------------------------------------------------------- per-CPU and program side

def test_percpu_program_side_and_syscall_layout():
    m = Map(A.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 2, nr_cpus=4)
    assert m.sys_value_size == 32
    m.prog_update(u32(1), b"\x01\x02\x03\x04", cpu=2)
    assert m.lookup(u32(1)) == bytes(16) + b"\x01\x02\x03\x04" + bytes(12)
    assert m.prog_lookup(u32(1), cpu=2) == b"\x01\x02\x03\x04"
    m.update(u32(0), bytes(range(32)))
    assert [m.prog_lookup(u32(0), cpu=c) for c in range(4)] == [bytes(range(c * 8, c * 8 + 4)) for c in range(4)]
    assert m.prog_lookup(u32(0), cpu=4) is None
    set_current_cpu(3)
    try:
        assert get_current_cpu() == 3
        assert m.prog_lookup(u32(0)) == bytes(range(24, 28))
    finally:
        set_current_cpu(0)

    h = Map(A.BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 4, nr_cpus=2)
    h.prog_update(u32(7), b"A" * 8, cpu=1)   # a new element: other CPUs start zeroed
    assert h.lookup(u32(7)) == bytes(8) + b"A" * 8
    h.prog_update(u32(7), b"B" * 8, cpu=0)   # existing: only this CPU changes
    assert h.lookup(u32(7)) == b"B" * 8 + b"A" * 8


def test_lru_keeps_recently_used():
    m = Map(A.BPF_MAP_TYPE_LRU_HASH, 4, 8, 16)
    for i in range(16):
        m.update(u32(i), bytes(8))
    for rnd in range(4):
        for hot in (0, 1, 2):
            assert m.prog_lookup(u32(hot)) is not None   # program lookups mark entries referenced
        for i in range(100 + rnd * 4, 104 + rnd * 4):
            m.update(u32(i), bytes(8))
    keys = {struct.unpack("<I", k)[0] for k in m.keys()}
    assert len(keys) == 16
    assert {0, 1, 2} <= keys and {112, 113, 114, 115} <= keys


def test_array_fast_path_pointer_and_region():
    m = Map(A.BPF_MAP_TYPE_ARRAY, 4, 12, 8)
    base, size = m.value_region()
    assert size == 8 * 16  # round_up(12, 8) per element
    m.update(u32(5), b"hello world!")
    assert ctypes.string_at(base + 5 * 16, 12) == b"hello world!"
    h = Map(A.BPF_MAP_TYPE_HASH, 4, 8, 8)
    hb, hs = h.value_region()
    assert hb and hs > 8 * 8
    assert m.address and h.address != m.address


def test_errors_and_argument_checks():
    m = Map(A.BPF_MAP_TYPE_HASH, 4, 8, 2)
    with pytest.raises(MapError) as e:
        m.update(b"abc", bytes(8))
    assert e.value.kind == errno.EINVAL
    with pytest.raises(MapError) as e:
        m.delete(u32(1))
    assert e.value.kind == errno.ENOENT and e.value.errno == errno.ENOENT
    with pytest.raises(MapError) as e:
        Map(A.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 4)
    assert e.value.kind == errno.EINVAL
    with pytest.raises(MapError) as e:
        Map(A.BPF_MAP_TYPE_LRU_HASH, 4, 4, 4, A.BPF_F_NO_PREALLOC)
    assert e.value.kind == A.ENOTSUPP
    assert m.lookup(u32(9)) is None and m.get_next_key(None) is None
    m.update(u32(1), b"12345678")
    assert list(m.items()) == [(u32(1), b"12345678")]
    s = Map(A.BPF_MAP_TYPE_STACK, 0, 4, 2)
    s.push(b"aaaa")
    s.push(b"bbbb")
    s.push(b"cccc", A.BPF_EXIST)  # overwrites the oldest (aaaa)
    assert [s.pop(), s.pop()] == [b"cccc", b"bbbb"]
    with pytest.raises(MapError) as e:
        s.peek()
    assert e.value.kind == errno.ENOENT
