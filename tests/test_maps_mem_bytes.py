"""The map memory budget counts what the allocator really gives a map (issue 14).

``limits.map_memory_bytes`` once charged a hash element 32 bytes of header
while the C code's element header is 40 and every map also holds a bucket
array rounded up to a power of two and a few spare elements. The budget
now asks the maps' C code (``map_mem_bytes``, from its own struct sizes and
geometry); this test measures what creating the map really takes from
malloc (glibc's mallinfo2: heap in use + mmapped chunks) and fails if the
two drift apart -- a field added to a struct, a bigger pool, a new
allocation the budget does not count.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

import pytest

from dataplane.abi import maps as mt
from dataplane.maps.core import Map, map_mem_bytes, num_possible_cpus
from dataplane.service.mapbudget import map_bytes


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]


def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallinfo2") or os.environ.get("DP_SANITIZE"):
        pytest.skip("needs glibc's mallinfo2 (>= 2.33) and the normal allocator")
    libc.mallinfo2.restype = _Mallinfo2
    return libc


def _in_use(libc) -> int:
    mi = libc.mallinfo2()
    return mi.uordblks + mi.hblkhd


CASES = [
    (mt.BPF_MAP_TYPE_HASH, 8, 8, 100_000),
    (mt.BPF_MAP_TYPE_HASH, 4, 4, 65_536),          # a power of two: buckets == entries
    (mt.BPF_MAP_TYPE_HASH, 13, 100, 20_000),       # key and value not multiples of 8
    (mt.BPF_MAP_TYPE_PERCPU_HASH, 8, 16, 20_000),
    (mt.BPF_MAP_TYPE_LRU_HASH, 8, 8, 50_000),
    (mt.BPF_MAP_TYPE_LRU_PERCPU_HASH, 4, 8, 20_000),
    (mt.BPF_MAP_TYPE_ARRAY, 4, 24, 100_000),
    (mt.BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 50_000),
]


@pytest.mark.parametrize("map_type,key_size,value_size,max_entries", CASES,
                         ids=[f"{t}-{k}-{v}-{e}" for t, k, v, e in CASES])
def test_budget_counts_what_the_allocator_gives_the_map(map_type, key_size, value_size, max_entries):
    libc = _libc()
    cpus = num_possible_cpus()
    want = map_bytes(map_type, key_size, value_size, max_entries, cpus)
    assert want == map_mem_bytes(map_type, key_size, value_size, max_entries)
    # measured: the median of 3 creations, each against a fresh baseline
    got = []
    for _ in range(3):
        gc.collect()
        before = _in_use(libc)
        m = Map(map_type, key_size, value_size, max_entries)
        got.append(_in_use(libc) - before)
        del m
    got.sort()
    measured = got[1]
    # slack: malloc's chunk headers and page rounding (a few KiB), the LRU lists' per-CPU heads
    slack = 16 * 1024 + 256 * cpus
    assert abs(measured - want) <= slack, (measured, want, got)


def test_the_old_guess_would_be_caught():
    """The 32-byte guess differs from the real cost by more than the slack above (the test can fail)."""
    libc = _libc()
    t, k, v, e = mt.BPF_MAP_TYPE_HASH, 8, 8, 100_000
    guess = (8 + 8 + 32) * e
    gc.collect()
    before = _in_use(libc)
    m = Map(t, k, v, e)
    measured = _in_use(libc) - before
    del m
    assert measured - guess > 16 * 1024 + 256 * num_possible_cpus(), (measured, guess)
