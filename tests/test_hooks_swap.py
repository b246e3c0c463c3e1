"""Atomic chain publication: attach/detach in a loop while a worker replays
a long trace. Every packet records the programs it went through (stamps),
which must be exactly one published chain -- never a mix of two -- and the
same for every packet of a batch."""
from __future__ import annotations

import time

import pytest

from dataplane.hooks import Hook
from dataplane.io.pcap import PcapReader
from dataplane.replay import Replay

from support.hooks import CHAIN_C, frame, progs, write_pcap
from support.progs import compile_src

BATCH = 64
TRACE = 2048          # a multiple of BATCH: batches line up with output packets across loops


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_swap_while_running(clang, tmp_path, engine):
    obj = compile_src(clang, CHAIN_C, tmp_path, "chain")
    _, (s1, s2, s3) = progs(obj, engine, "stamp1", "stamp2", "stamp3")
    trace = write_pcap(tmp_path / "in.pcap", [frame(i) for i in range(TRACE)])
    out = tmp_path / "pass.pcap"
    hook = Hook("swap")
    published = {()}

    def note():
        published.add(tuple(p.id for p in hook.chain))

    # A cycle of changes of every kind; each step publishes a new chain.
    steps = [lambda: hook.attach(s1), lambda: hook.attach(s2), lambda: hook.attach(s3, before=s1),
             lambda: hook.detach(s1), lambda: hook.attach(s1, replace=s2), lambda: hook.detach(s3),
             lambda: hook.detach(s1)]
    r = Replay(hook, trace, loop=60 if engine == "interp" else 400, outputs={"pass": str(out)}, batch=BATCH).start()
    changes = 0
    deadline = time.monotonic() + 60
    while not r.join(0) and time.monotonic() < deadline:
        for step in steps:
            rev = hook.revision
            step()
            # +1 per commit; an emptied hook starts over at 1 (tcx frees the entry)
            assert hook.revision == (rev + 1 if hook.chain else 1)
            note()
            changes += 1
            time.sleep(0.0003)
    summary = r.wait()
    assert not summary.cancelled and summary.error is None
    assert summary.packets == summary.loops * TRACE and summary.verdicts["pass"] == summary.packets
    assert changes >= 14, "the replay ended before the hook changed twice"

    ids = {s1.id: 1, s2.id: 2, s3.id: 3}
    allowed = {tuple(ids[i] for i in chain) for chain in published}
    seen = set()
    with PcapReader(str(out)) as rd:
        k = 0
        group = None
        for _, pkt in rd.packets(BATCH):
            n = pkt[47]
            stamps = tuple(pkt[48:48 + n])
            assert stamps in allowed, f"packet {k} went through {stamps}: not a published chain"
            if k % BATCH == 0:
                group = stamps
            assert stamps == group, f"packet {k}: chain changed inside a batch"
            assert int.from_bytes(pkt[14:18], "big") == k % TRACE
            seen.add(stamps)
            k += 1
    assert k == summary.packets
    # the worker really ran several revisions of the chain
    assert len(seen) >= 3 and summary.revisions >= 3


def test_two_replays_share_a_hook(clang, tmp_path):
    # Two workers on one hook take turns on the chain (its mutex); counters add up.
    obj = compile_src(clang, CHAIN_C, tmp_path, "chain")
    _, (s1, s2) = progs(obj, "jit", "stamp1", "stamp2")
    trace = write_pcap(tmp_path / "in.pcap", [frame(i) for i in range(TRACE)])
    hook = Hook("shared")
    hook.attach(s1)
    hook.attach(s2)
    outs = [tmp_path / "a.pcap", tmp_path / "b.pcap"]
    rs = [Replay(hook, trace, loop=20, outputs={"pass": str(o)}, batch=BATCH).start() for o in outs]
    sums = [r.wait(60) for r in rs]
    assert [s.packets for s in sums] == [20 * TRACE] * 2
    assert hook.totals()["packets"]["pass"] == 40 * TRACE
    st = hook.stats()
    assert st[s1.id]["runs"] == st[s2.id]["runs"] == 40 * TRACE
    with PcapReader(str(outs[1])) as rd:
        for _, pkt in rd.packets(BATCH):
            assert pkt[47:50] == b"\x02\x01\x02"
