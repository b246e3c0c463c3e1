"""Map.count() / len(map): the native element counter agrees with iteration.

The service reports map sizes from this counter (Maps.List, Info, metrics)
instead of walking every key with the GIL held, so it must stay exact across
inserts, replacements, deletes, lookup_and_delete, LRU evictions and per-CPU
updates, and under concurrent writers.
"""
import os
import random
import struct
import threading

import pytest

from dataplane.abi import maps as mt
from dataplane.errors import MapError
from dataplane.maps.core import Map
from dataplane.maps.workload import stress


def _walk(m: Map) -> int:
    return len(m.keys())


HASHES = [mt.BPF_MAP_TYPE_HASH, mt.BPF_MAP_TYPE_PERCPU_HASH, mt.BPF_MAP_TYPE_LRU_HASH,
          mt.BPF_MAP_TYPE_LRU_PERCPU_HASH]


@pytest.mark.parametrize("map_type", HASHES)
def test_hash_count_random_ops(map_type):
    rnd = random.Random(map_type)
    m = Map(map_type, 4, 8, 64, nr_cpus=4)
    vsize = m.sys_value_size
    assert len(m) == m.count() == 0
    lru = map_type in (mt.BPF_MAP_TYPE_LRU_HASH, mt.BPF_MAP_TYPE_LRU_PERCPU_HASH)
    evicting = False
    for step in range(3000):
        key = struct.pack("<I", rnd.randrange(200))
        op = rnd.random()
        before, fresh = m.count(), m.lookup(key) is None
        try:
            if op < 0.55:
                m.update(key, bytes([step & 255]) * vsize, rnd.choice([0, 0, 1, 2]))
                # a new key that did not grow the map: the LRU evicted others for it
                evicting |= lru and fresh and m.count() <= before
            elif op < 0.8:
                m.delete(key)
            elif op < 0.9:
                m.lookup_and_delete(key)
            else:
                m.prog_update(key, b"\1" * 8, 0, cpu=rnd.randrange(4))
        except MapError:
            pass
        if step % 50 == 0:
            n = _walk(m)
            assert m.count() == n == len(m), step
    assert m.count() == _walk(m)
    if lru:
        assert evicting, "the sequence never made the LRU map evict: evictions untested"


def test_lru_eviction_count_follows_kernel(root_required):
    """Syscall inserts into a full common-LRU map on CPU 0: the kernel evicts
    a batch (target_free = max_entries / ncpus / 2) each time CPU 0's local
    free list runs dry, so the count saws below max_entries; the counter
    follows the same sawtooth, step by step, and the same keys survive."""
    from dataplane.io import kbpf
    ncpu = kbpf.num_possible_cpus()
    m = Map(mt.BPF_MAP_TYPE_LRU_HASH, 4, 4, 32, nr_cpus=ncpu)
    old = os.sched_getaffinity(0)
    fd = kbpf.map_create(mt.BPF_MAP_TYPE_LRU_HASH, 4, 4, 32)
    os.sched_setaffinity(0, {0})
    try:
        for i in range(300):
            key = struct.pack("<I", i)
            m.update(key, b"\0\0\0\0")
            kbpf.map_update(fd, key, b"\0\0\0\0")
            assert m.count() == _walk(m) == len(kbpf.map_keys(fd, 4)), i
        assert sorted(m.keys()) == sorted(kbpf.map_keys(fd, 4))
        assert m.count() < 32
    finally:
        os.sched_setaffinity(0, old)
        kbpf.close(fd)


def test_full_hash_rejects_without_miscounting():
    m = Map(mt.BPF_MAP_TYPE_HASH, 4, 4, 8)
    for i in range(8):
        m.update(struct.pack("<I", i), b"\0" * 4)
    with pytest.raises(MapError):
        m.update(struct.pack("<I", 99), b"\0" * 4)
    m.update(struct.pack("<I", 3), b"\1" * 4)   # replace in a full map
    assert m.count() == _walk(m) == 8


def test_lpm_count_random_ops():
    rnd = random.Random(7)
    m = Map(mt.BPF_MAP_TYPE_LPM_TRIE, 8, 4, 100, flags=1)   # BPF_F_NO_PREALLOC, as the kernel requires
    for step in range(2000):
        plen = rnd.choice([8, 16, 24, 32])
        addr = rnd.randrange(16) << 28 | rnd.randrange(4) << 16
        key = struct.pack("<I", plen) + struct.pack(">I", addr)
        try:
            if rnd.random() < 0.6:
                m.update(key, b"\1\2\3\4")
            else:
                m.delete(key)
        except MapError:
            pass
        if step % 40 == 0:
            assert m.count() == _walk(m), step


@pytest.mark.parametrize("map_type", [mt.BPF_MAP_TYPE_QUEUE, mt.BPF_MAP_TYPE_STACK])
def test_queue_stack_count(map_type):
    rnd = random.Random(map_type)
    m = Map(map_type, 0, 4, 10)
    model = 0
    for _ in range(500):
        if rnd.random() < 0.55:
            try:
                m.push(b"abcd", rnd.choice([0, 2]))
                model = min(model + 1, 10)
            except MapError:
                assert model == 10
        else:
            try:
                m.pop()
                model -= 1
            except MapError:
                assert model == 0
        assert m.count() == model
    popped = 0
    while True:                       # "iterating" a queue is popping it
        try:
            m.pop()
        except MapError:
            break
        popped += 1
    assert popped == model and m.count() == 0


@pytest.mark.parametrize("map_type", [mt.BPF_MAP_TYPE_ARRAY, mt.BPF_MAP_TYPE_PERCPU_ARRAY,
                                      mt.BPF_MAP_TYPE_PROG_ARRAY])
def test_arrays_count_every_index(map_type):
    m = Map(map_type, 4, 4, 37)
    assert m.count() == _walk(m) == 37


def test_devmap_hash_and_ringbuf():
    m = Map(mt.BPF_MAP_TYPE_DEVMAP_HASH, 4, 4, 8)
    m.update(struct.pack("<I", 5), struct.pack("<I", 1))     # ifindex 1: lo
    m.update(struct.pack("<I", 6), struct.pack("<I", 1))
    m.delete(struct.pack("<I", 5))
    assert m.count() == _walk(m) == 1
    rb = Map(mt.BPF_MAP_TYPE_RINGBUF, 0, 0, 4096)
    rb.output(b"x" * 10)
    assert rb.count() == 0 and bool(rb)      # an empty map is still truthy


def test_count_after_concurrent_writers():
    m = Map(mt.BPF_MAP_TYPE_HASH, 4, 8, 512)
    ts = [threading.Thread(target=stress, args=(m, 700, 200_000, seed, seed)) for seed in (1, 2, 3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert m.count() == _walk(m)
    assert 0 < m.count() <= 512
