"""Conntrack: the service's connection-tracking table (paged list, flush, stats)."""
from __future__ import annotations

import asyncio
import errno
import time

from dataplane.errors import DataplaneError
from dataplane.service.errors import guard
from dataplane.service.protos import pb, rpc
from dataplane.service.state import Registry


def _tuple(t: dict) -> pb.CtTuple:
    return pb.CtTuple(src=t.get("src", ""), dst=t.get("dst", ""), sport=t.get("sport", 0) or 0,
                      dport=t.get("dport", 0) or 0, icmp_type=t.get("type", 0) or 0,
                      icmp_code=t.get("code", 0) or 0, icmp_id=t.get("id", 0) or 0)


def ct_entry(e: dict) -> pb.ConntrackEntry:
    from dataplane.conntrack.format import format_entry
    return pb.ConntrackEntry(l3=e["l3"], proto=e["proto"], protonum=e["protonum"], timeout_s=e["timeout_s"],
                             state=e.get("state") or "", orig=_tuple(e["orig"]), reply=_tuple(e["reply"]),
                             status=e["status"], flags=e.get("flags", []), mark=e["mark"], zone=e["zone"],
                             use=e["use"], line=format_entry(e))


CONNTRACK_PAGE_TTL_S = 60.0     # a paged listing's snapshot lives this long after its last page
MAX_CT_SNAPSHOTS = 8            # listings in progress at once: limits.conntrack_snapshots' default


class _Snapshots:
    """Conntrack listings being paged: id -> (entries as protos, expiry).

    The table has no stable cursor (buckets are rehashed by inserts and GC),
    so the first page walks it once into a snapshot and the following pages
    slice that: every entry comes back exactly once, and a page costs
    O(page_size) instead of a walk of the whole table.

    Each snapshot holds a copy of the table, so at most ``limit``
    (limits.conntrack_snapshots) exist: one more listing is refused
    (RESOURCE_EXHAUSTED) until one is paged to its end or expires, rather
    than silently invalidating another client's listing half-way.
    """

    def __init__(self, limit: int = MAX_CT_SNAPSHOTS):
        self._next = 1
        self.limit = limit
        self._items: dict[int, tuple[list, float]] = {}

    def _expire(self, now: float) -> None:
        for sid in [k for k, (_, exp) in self._items.items() if exp <= now]:
            del self._items[sid]

    def add(self, entries: list) -> int:
        self.check_room()
        sid = self._next
        self._next += 1
        self._items[sid] = (entries, time.monotonic() + CONNTRACK_PAGE_TTL_S)
        return sid

    def check_room(self) -> None:
        """Refuse a new paged listing when ``limit`` are held (before the table is walked for it)."""
        now = time.monotonic()
        self._expire(now)
        if len(self._items) >= self.limit:
            wait = min(exp for _, exp in self._items.values()) - now
            raise DataplaneError(f"{len(self._items)} conntrack listings are being paged; the limit is "
                                 f"{self.limit} (limits.conntrack_snapshots): page one to its end, or retry "
                                 f"in {wait:.0f}s when the oldest expires (or list without page_size)",
                                 kind=errno.ENOSPC)

    def get(self, token: str) -> tuple[int, list, int]:
        try:
            sid_s, off_s = token.split(":", 1)
            sid, off = int(sid_s), int(off_s)
        except ValueError:
            raise DataplaneError(f"conntrack list: malformed page_token {token!r}") from None
        self._expire(time.monotonic())
        if sid not in self._items:
            raise DataplaneError(f"conntrack list: page_token {token!r} expired or unknown: "
                                 "start the listing again")
        entries, _ = self._items[sid]
        self._items[sid] = (entries, time.monotonic() + CONNTRACK_PAGE_TTL_S)
        if not 0 <= off <= len(entries):
            raise DataplaneError(f"conntrack list: page_token {token!r} is out of range")
        return sid, entries, off

    def drop(self, sid: int) -> None:
        self._items.pop(sid, None)


class Conntrack(rpc.ConntrackServicer):
    def __init__(self, reg: Registry, max_snapshots: int = MAX_CT_SNAPSHOTS):
        self.reg = reg
        self.snapshots = _Snapshots(max_snapshots)

    def _table(self):
        if self.reg.conntrack is None:
            raise DataplaneError("conntrack is not available in this build", kind=95)   # EOPNOTSUPP
        return self.reg.conntrack

    def _walk(self) -> list:
        # the table's clock is CLOCK_MONOTONIC in ns, as bpf_ktime_get_ns
        return [ct_entry(e) for e in self._table().entries(time.monotonic_ns())]

    @guard
    async def List(self, request, context):
        if request.page_token:
            sid, entries, off = self.snapshots.get(request.page_token)
        else:
            if request.page_size:
                self.snapshots.check_room()
            # walking tens of thousands of entries (and formatting each) is
            # CPU work: off the event loop, so health and other calls answer
            entries = await asyncio.to_thread(self._walk)
            if not request.page_size:
                return pb.ListConntrackResponse(entries=entries, total=len(entries))
            sid, off = None, 0
        size = request.page_size or len(entries)
        end = min(off + size, len(entries))
        token = ""
        if end < len(entries):
            if sid is None:
                sid = self.snapshots.add(entries)
            token = f"{sid}:{end}"
        elif sid is not None:
            self.snapshots.drop(sid)        # last page served: free the snapshot now
        return pb.ListConntrackResponse(entries=entries[off:end], next_page_token=token, total=len(entries))

    @guard
    async def Flush(self, request, context):
        return pb.FlushConntrackResponse(flushed=self._table().flush() or 0)

    @guard
    async def Stats(self, request, context):
        t = self._table()
        st = t.stats()
        return pb.ConntrackStatsResponse(entries=st.get("entries", 0), max_entries=t.max_entries,
                                         counters={k: v for k, v in st.items() if k != "entries"})


def register(server, app, serving) -> None:
    svc = Conntrack(app.reg, app.limits.conntrack_snapshots)
    app.ct_snapshots = svc.snapshots         # a reload sets its limit (limits_apply.py)
    rpc.add_ConntrackServicer_to_server(svc, server)
