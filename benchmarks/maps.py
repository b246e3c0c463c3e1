"""Map operation throughput through the C ABI (nogil loop, one thread).

Prints ns per mixed operation (50% lookup, 25% update, 25% delete) for the
hash-table family and arrays.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from dataplane.abi import maps as A
from dataplane.maps import Map
from dataplane.maps.workload import stress

N = 2_000_000
for name, mtype, flags in [("hash", A.BPF_MAP_TYPE_HASH, 0), ("lru_hash", A.BPF_MAP_TYPE_LRU_HASH, 0),
                           ("percpu_hash", A.BPF_MAP_TYPE_PERCPU_HASH, 0), ("array", A.BPF_MAP_TYPE_ARRAY, 0)]:
    m = Map(mtype, 4, 16, 4096, flags)
    stress(m, 4096, N // 4, 1)  # warm up: fault in the element pool
    t0 = time.perf_counter()
    upd, dele, hits, _ = stress(m, 4096, N, 12345)
    dt = time.perf_counter() - t0
    print(f"{name:12s} {dt / N * 1e9:6.1f} ns/op  ({upd} updates ok, {dele} deletes ok, {hits} hits)")
