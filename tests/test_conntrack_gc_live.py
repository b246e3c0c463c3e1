"""GC and early drop while the data path runs.

* A background thread runs ConntrackTable.gc_step (nogil, bucket locks
  only) while a clang-compiled firewall keeps looking entries up through
  bpf_xdp_ct_lookup: live entries are always found, expired ones are gone,
  nothing stops.
* A full table: bpf_xdp_ct_alloc fails with -ENOMEM (counted as `drop`)
  when every entry is ASSURED, as the kernel's __nf_conntrack_alloc does
  when early_drop finds no victim; with non-ASSURED entries it evicts one
  (`early_drop`) and the new connection is inserted. (The kernel side is not
  compared: net.netfilter.nf_conntrack_max is read-only outside the initial
  network namespace, so a test cannot shrink the kernel's table.)
"""
from __future__ import annotations

import errno
import threading

import pytest

from dataplane.conntrack.consts import IPS_ASSURED, IPS_SEEN_REPLY
from dataplane.conntrack.table import ConntrackTable
from dataplane.conntrack.workload import run_inserts, run_lookups
from dataplane.errors import DataplaneError
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection
from support.packets import ACK, SYN, tcp4 as tcp

S = 1_000_000_000
T0 = 100 * S
XDP_DROP, XDP_PASS = 1, 2


@pytest.fixture(scope="module")
def fw(objs):
    return objs["xdp_ct_fw"]


def _flow(i):
    return (6, f"10.1.{i >> 8}.{i & 0xff}", "192.0.2.1", 1024 + i, 80)


class _GcThread(threading.Thread):
    def __init__(self, table, now):
        super().__init__(daemon=True)
        self.table, self.now, self.removed, self.steps = table, now, 0, 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.removed += self.table.gc_step(self.now, 32)
            self.steps += 1


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_gc_runs_while_program_looks_up(fw, engine):
    table = ConntrackTable(8192, "gc-live")
    live, short = 300, 3000
    for i in range(live):
        table.insert(_flow(i), T0, timeout_ms=600_000)
    for i in range(live, live + short):
        table.insert(_flow(i), T0, timeout_ms=1000)
    coll = Collection.load(fw, engine=engine, conntrack=table, kfuncs=default_registry())
    assert getattr(coll.program("xdp_ct_fw"), "engine", engine) == engine
    later = T0 + 5 * S
    coll.runner.ct.now = later               # the kfuncs' clock: the short flows have expired
    gc = _GcThread(table, later)
    gc.start()
    try:
        verdicts = []
        for _ in range(4):
            for i in range(live):
                _, src, dst, sport, dport = _flow(i)
                verdicts.append(coll.run("xdp_ct_fw", tcp(src, dst, sport, dport, ACK))[0])
            # reply direction too
            _, src, dst, sport, dport = _flow(7)
            verdicts.append(coll.run("xdp_ct_fw", tcp(dst, src, dport, sport, ACK))[0])
        expired_seen = [coll.run("xdp_ct_fw", tcp(*_flow(i)[1:], ACK))[0] for i in range(live, live + 50)]
    finally:
        gc.stop.set()
        gc.join(10)
    assert verdicts == [XDP_PASS] * len(verdicts)       # no live entry was ever missed
    assert expired_seen == [XDP_DROP] * 50              # expired entries are not found
    assert gc.steps > 0 and gc.removed > 0              # the GC worked while packets ran
    table.gc(later)                                     # finish the sweep
    st = table.stats()
    assert len(table) == live and st["entries"] == live
    assert st["expired"] == short and st["gc_runs"] >= gc.steps
    counters = coll.map("counters")
    hits = int.from_bytes(counters.lookup((0).to_bytes(4, "little")), "little")
    assert hits == 4 * live


def test_gc_concurrent_with_native_lookups():
    """nogil lookups in one thread, nogil GC in another, both on one table."""
    t = ConntrackTable(1 << 15)
    assert run_inserts(t, 0, 10000, T0) == 10000           # 10 s timeout (alloc default)
    gc_now = T0 + 11 * S                                   # everything inserted so far is expired ...
    assert run_inserts(t, 10000, 5000, gc_now) == 5000     # ... but these 5000
    res = {}
    th = threading.Thread(target=lambda: res.setdefault("hits", run_lookups(t, 10000, 5000, 20, gc_now)))
    th.start()
    removed = 0
    while th.is_alive():
        removed += t.gc_step(gc_now, 64)
    th.join()
    removed += t.gc(gc_now)
    assert res["hits"] == 5000 * 20
    assert len(t) == 5000 and t.stats()["expired"] == 10000


def test_full_table_enomem_then_early_drop(fw):
    table = ConntrackTable(16, "full")
    # ASSURED entries are never early-dropped: the table is full for good
    for i in range(16):
        table.insert(_flow(i), T0, timeout_ms=600_000, status=IPS_SEEN_REPLY | IPS_ASSURED)
    coll = Collection.load(fw, engine="jit", conntrack=table, kfuncs=default_registry())
    coll.runner.ct.now = T0 + S
    src, dst = "10.9.9.9", "192.0.2.1"
    assert coll.run("xdp_ct_fw", tcp(src, dst, 5555, 80, SYN))[0] == XDP_DROP
    alloc_fail = int.from_bytes(coll.map("counters").lookup((5).to_bytes(4, "little")), "little")
    assert alloc_fail == 1
    with pytest.raises(DataplaneError) as ei:
        table.alloc((6, src, dst, 5556, 80), T0 + S)
    assert ei.value.kind == errno.ENOMEM
    st = table.stats()
    assert st["drop"] == st["drops"] == 2 and st["early_drop"] == 0 and len(table) == 16
    # non-ASSURED entries can be evicted: the new SYN gets in, one entry goes
    assert table.flush() == 16 and table.stats()["entries"] == 0
    for i in range(16):
        table.insert(_flow(i), T0, timeout_ms=600_000)
    assert coll.run("xdp_ct_fw", tcp(src, dst, 5555, 80, SYN))[0] == XDP_PASS
    st = table.stats()
    assert st["early_drop"] == st["early_drops"] == 1 and len(table) == 16
    assert coll.run("xdp_ct_fw", tcp(dst, src, 80, 5555, SYN | ACK))[0] == XDP_PASS


def test_control_plane_api_fields_and_zone_format():
    """What the service exposes: entries(now) with the conntrack -L fields,
    stats() with the exported counters, flush() -> count; zones of one
    direction print as conntrack's zone-orig= / zone-reply=."""
    from dataplane.conntrack.format import format_entry
    t = ConntrackTable(64, "api")
    t.insert(_flow(1), T0, timeout_ms=30_000, mark=5)
    (e,) = t.entries(T0)
    assert {"l3", "proto", "protonum", "state", "timeout_s", "orig", "reply", "status", "flags",
            "mark", "zone", "zone_dir", "use"} <= set(e)
    assert e["timeout_s"] == 30 and e["mark"] == 5 and e["use"] == 1 and e["zone_dir"] == 3
    st = t.stats()
    for k in ("entries", "inserts", "insert_failed", "drops", "early_drops", "gc_runs", "expired"):
        assert k in st
    assert st["entries"] == 1 and st["inserts"] == 1
    assert t.gc_step(T0 + 31 * S, 64) == 1 and t.stats()["gc_runs"] == 1 and len(t) == 0
    t.insert(_flow(2), T0)
    assert t.flush() == 1 and len(t) == 0
    line = format_entry({**e, "zone": 5, "zone_dir": 1})
    assert "dport=80 zone-orig=5 [UNREPLIED] src=192.0.2.1" in line and " zone=" not in line
    assert format_entry({**e, "zone": 5, "zone_dir": 3}).endswith("mark=5 zone=5 use=1")
