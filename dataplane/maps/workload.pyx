# cython: language_level=3
"""Native nogil workload over a Map, for the concurrency tests
(tests/test_maps_semantics.py) and benchmarks/maps.py: a loop over the maps C
ABI (dp_maps.h: each call goes through the map's ops table, as helpers and
JIT'd programs do), kept out of core.pyx (the maps' API)."""
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset

from dataplane.maps.core cimport (Map, dp_map_delete_elem, dp_map_lookup_elem, dp_map_update_elem,
                                  set_current_cpu)


cdef inline uint64_t _xorshift(uint64_t *s) noexcept nogil:
    cdef uint64_t x = s[0]
    x ^= x << 13
    x ^= x >> 7
    x ^= x << 17
    s[0] = x
    return x


def stress(Map m, uint32_t n_keys, uint64_t iterations, uint64_t seed, uint32_t cpu=0):
    """Random update/delete/lookup on 4-byte keys 0..n_keys-1 without the GIL.

    Values are 8+ bytes whose first 4 bytes hold key + 1, so a lookup that
    returns another key's value is detected (0 = a per-CPU slot this CPU has
    not written yet).
    Returns (updates_ok, deletes_ok, hits, corrupt).
    """
    cdef uint64_t s = seed | 1, i, r
    cdef uint32_t key, vs = m._m.value_size
    cdef unsigned char value[64]
    cdef uint64_t upd = 0, dele = 0, hits = 0, corrupt = 0
    cdef void *p
    cdef long rc
    if vs < 8 or vs > 64 or m._m.key_size != 4:
        raise ValueError("stress needs key_size 4 and 8 <= value_size <= 64")
    with nogil:
        set_current_cpu(cpu)
        memset(value, 0, 64)
        for i in range(iterations):
            r = _xorshift(&s)
            key = <uint32_t>((r >> 8) % n_keys)
            if (r & 3) == 0:
                (<uint32_t *>value)[0] = key + 1
                (<uint32_t *>value)[1] = <uint32_t>i
                rc = dp_map_update_elem(m._m, &key, value, 0)
                if rc == 0:
                    upd += 1
            elif (r & 3) == 1:
                rc = dp_map_delete_elem(m._m, &key)
                if rc == 0:
                    dele += 1
            else:
                p = dp_map_lookup_elem(m._m, &key)
                if p != NULL:
                    hits += 1
                    if (<uint32_t *>p)[0] != key + 1 and (<uint32_t *>p)[0] != 0:
                        corrupt += 1
    return upd, dele, hits, corrupt
