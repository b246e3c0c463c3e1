"""Named conntrack tables, like pinned maps: the process-wide registry the
control plane (gRPC service, CLI) and the data path share.

A collection names its table with ``Collection.load(..., conntrack="name")``
(or passes a ConntrackTable); programs loaded with the same name share one
table. Without a name each collection gets a private table, reachable as
``Collection.conntrack``. The service lists/flushes tables through here:

    from dataplane.conntrack import named
    t = named.get("edge")               # NotFound if absent
    t = named.get_or_create("edge", max_entries=262144)
    named.names(); named.remove("edge")
    t.entries(named.now()); t.stats(); t.flush()

``now()`` is the clock the kfuncs use (CLOCK_MONOTONIC_COARSE ns: the tick
clock, as the kernel's conntrack uses jiffies), the one to pass to
ConntrackTable calls that take ``now`` (CLOCK_MONOTONIC, less than a tick
ahead, works too).
"""
from __future__ import annotations

import threading
import time

from dataplane.errors import AlreadyExists, NotFound

_lock = threading.Lock()
_tables: dict = {}


_CLOCK_MONOTONIC_COARSE = 6      # linux/time.h (the time module does not name it)


def now() -> int:
    return time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE)


def get(name: str):
    with _lock:
        if name not in _tables:
            raise NotFound(f"conntrack table {name!r} not found; have: {', '.join(sorted(_tables)) or 'none'}")
        return _tables[name]


def get_or_create(name: str, max_entries: int = 65536):
    from dataplane.conntrack.table import ConntrackTable
    with _lock:
        if name not in _tables:
            _tables[name] = ConntrackTable(max_entries, name[:31])
        return _tables[name]


def add(name: str, table) -> None:
    with _lock:
        if name in _tables and _tables[name] is not table:
            raise AlreadyExists(f"conntrack table {name!r} exists")
        _tables[name] = table


def remove(name: str) -> None:
    """Forget the table (programs holding it keep it alive)."""
    with _lock:
        if _tables.pop(name, None) is None:
            raise NotFound(f"conntrack table {name!r} not found")


def names() -> list[str]:
    with _lock:
        return sorted(_tables)
