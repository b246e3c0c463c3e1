"""Conntrack entries: tuples, state, status, mark and the time they had left.

Programs create and change entries all the time, so this is periodic (and
at shutdown). The time a server was down counts against each entry's
timeout, as it would have in a kernel that kept running: an entry whose
time ran out meanwhile does not come back.
"""
from __future__ import annotations

import logging
import struct
import time

from dataplane.service.persist import Kind
from dataplane.service.persist.store import StateError

log = logging.getLogger("dataplane.service.persist")

_ENT = struct.Struct("<QQIBB")       # remaining ns, status, mark, tcp state, zone dir (+ 2 tuples)
MAGIC = b"DPCT"


def _now() -> int:
    from dataplane.conntrack.named import now
    return now()                     # the kfuncs' clock (CLOCK_MONOTONIC_COARSE ns)


class Conntrack(Kind):
    name = "conntrack"
    order = 70
    periodic = True
    commit_methods = ("/dataplane.v1.Conntrack/Flush",)     # an acknowledged flush stays flushed

    def snapshot(self, app, store):
        t = app.reg.conntrack
        if t is None:
            return None
        ents = t.export(_now())
        tl = len(ents[0][0]) if ents else 0
        body = b"".join(o + r + _ENT.pack(rem, st, mark, state, zd) for o, r, rem, st, mark, state, zd in ents)
        store.write("conntrack.bin", MAGIC + struct.pack("<II", len(ents), tl) + body)
        return {"entries": len(ents), "wall_ns": time.time_ns()}

    def restore(self, app, data, store) -> None:
        t = app.reg.conntrack
        if not data or t is None:
            return
        raw = store.read("conntrack.bin")
        if raw is None or raw[:4] != MAGIC:
            raise StateError("conntrack.bin is missing or damaged")
        n, tl = struct.unpack_from("<II", raw, 4)
        down = max(0, time.time_ns() - data.get("wall_ns", time.time_ns()))
        now = _now()
        i, kept = 12, 0
        for _ in range(n):
            o, r = raw[i:i + tl], raw[i + tl:i + 2 * tl]
            rem, st, mark, state, zd = _ENT.unpack_from(raw, i + 2 * tl)
            i += 2 * tl + _ENT.size
            if rem <= down:
                continue
            try:
                t.import_entry(o, r, rem - down, st, mark, state, zd, now)
                kept += 1
            except Exception as exc:     # a clash or a full table: the rest still come back
                log.warning("state: conntrack entry not restored: %s", exc)
        log.info("state: %d of %d conntrack entries restored", kept, n)


KIND = Conntrack()
