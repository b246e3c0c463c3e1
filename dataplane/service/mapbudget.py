"""How much memory a map asks for, and the service's budget for them
(``limits.map_bytes`` one map, ``limits.map_memory_bytes`` all of them,
``limits.maps`` how many).

The probe made the service create 4 GB of maps in one load.  The size is
estimated from the map's attributes *before* anything is created, as
BPF_MAP_CREATE's memory accounting does in spirit: element storage
(key + value, rounded to 8, for every entry; per-CPU values once per
possible CPU; a ring buffer its data pages), so a refused load allocates
nothing.
"""
from __future__ import annotations

import errno

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError
from dataplane.service.limits import fmt_bytes

_PERCPU = {mt.BPF_MAP_TYPE_PERCPU_HASH, mt.BPF_MAP_TYPE_PERCPU_ARRAY, mt.BPF_MAP_TYPE_LRU_PERCPU_HASH}
_ARRAYS = {mt.BPF_MAP_TYPE_ARRAY, mt.BPF_MAP_TYPE_PERCPU_ARRAY}
_HASH_OVERHEAD = 32           # per element: hash, links, lock word (an estimate, as the kernel's htab_elem)


def _round8(n: int) -> int:
    return (n + 7) & ~7


def map_bytes(map_type: int, key_size: int, value_size: int, max_entries: int, cpus: int) -> int:
    if map_type == mt.BPF_MAP_TYPE_RINGBUF:
        return max_entries
    value = _round8(value_size) * (cpus if map_type in _PERCPU else 1)
    if map_type in _ARRAYS:
        return value * max_entries
    return (_round8(key_size) + value + _HASH_OVERHEAD) * max_entries


class MapBudget:
    def __init__(self, per_map: int = 0, total: int = 0, count: int = 0):
        self.per_map, self.total, self.count = per_map, total, count

    def check(self, new: list[tuple[str, int]], used: int, existing: int) -> None:
        """``new``: (name, bytes) of the maps about to be made; ``used``/``existing``: what is held now."""
        if self.count and existing + len(new) > self.count:
            raise DataplaneError(f"{existing} maps exist and {len(new)} more were asked for; the limit is "
                                 f"{self.count} (limits.maps)", kind=errno.ENOSPC)
        for name, n in new:
            if self.per_map and n > self.per_map:
                raise DataplaneError(f"map {name[:64]!r} needs {fmt_bytes(n)}; one map may use at most "
                                     f"{fmt_bytes(self.per_map)} (limits.map_bytes)", kind=errno.E2BIG)
        want = sum(n for _, n in new)
        if self.total and used + want > self.total:
            raise DataplaneError(f"maps need {fmt_bytes(want)} more with {fmt_bytes(used)} in use; all maps "
                                 f"together may use {fmt_bytes(self.total)} (limits.map_memory_bytes)",
                                 kind=errno.E2BIG)
