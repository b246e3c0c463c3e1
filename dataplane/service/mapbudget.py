"""How much memory a map asks for, and the service's budget for them
(``limits.map_bytes`` one map, ``limits.map_memory_bytes`` all of them,
``limits.maps`` how many).

The probe made the service create 4 GB of maps in one load.  The size is
computed from the map's attributes *before* anything is created, as
BPF_MAP_CREATE's memory accounting does, so a refused load allocates
nothing. Hash and array maps are counted by the maps' C code itself
(``maps.core.map_mem_bytes``: its struct sizes -- a hash element's header is
40 bytes, not the 32 once guessed here -- its bucket array rounded to a
power of two, the spare elements), the same geometry ``Map()`` allocates
with; the other types are estimated (element storage: key + value rounded
to 8 per entry plus one element header; a ring buffer its data pages).
"""
from __future__ import annotations

import errno

from dataplane.abi import maps as mt
from dataplane.errors import DataplaneError
from dataplane.service.limits import fmt_bytes

_ELEM_HEADER = 40             # the other types' estimate: one element header, as a hash element's


def _round8(n: int) -> int:
    return (n + 7) & ~7


def map_bytes(map_type: int, key_size: int, value_size: int, max_entries: int, cpus: int, flags: int = 0) -> int:
    if map_type == mt.BPF_MAP_TYPE_RINGBUF:
        return max_entries
    from dataplane.maps.core import map_mem_bytes
    native = map_mem_bytes(map_type, key_size, value_size, max_entries, flags, cpus)
    if native:            # every per-CPU and array type is one of these
        return native
    return (_round8(key_size) + _round8(value_size) + _ELEM_HEADER) * max_entries


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
