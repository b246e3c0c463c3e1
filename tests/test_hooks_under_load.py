"""Edits under load: while a replay runs flat out, 1000 random attach /
detach / replace / link create / link update / link detach operations.
Every packet records the programs it went through (stamps); every batch
must have run exactly one published chain, and no packet may be lost or
counted twice: the programs' own counters add up to the stamps in the
output, and the chain's totals to the packets sent."""
from __future__ import annotations

import random
import time

import numpy as np
import pytest

from dataplane.errors import DataplaneError
from dataplane.hooks import After, Before, Head, Hook, Tail, bind
from dataplane.replay import Replay
from dataplane.runtime.collection import Collection

from support.hooks import frame, stamp_c, write_pcap
from support.progs import compile_src

POOL = 10
CHAIN_MAX = 8
BATCH = 64
TRACE = 1024            # a multiple of BATCH: batches line up with output packets across loops
OPS = 1000

STAMPS_C = stamp_c(12) + r"""
#define S(i) SEC("xdp") int s##i(struct xdp_md *ctx) { return stamp(ctx, i); }
S(1) S(2) S(3) S(4) S(5) S(6) S(7) S(8) S(9) S(10)
char _license[] SEC("license") = "GPL";
"""


def _random_op(rng: random.Random, h: Hook, progs: list, links: list):
    """One random edit (it may be refused: that is part of the test)."""
    attached = {p.id for p in h.chain}
    free = [p for p in progs if p.id not in attached]
    owned = {ln.program.id for ln in links}
    prog_owned = [p for p in h.chain if p.id not in owned]
    kw = {}
    if rng.random() < 0.3:
        kw["expected_revision"] = h.revision

    def anchor():
        choices = [None, Head(), Tail()]
        if h.chain:
            x = rng.choice(h.chain)
            choices += [Before(x), After(x), Before(prog_id=x.id)]
        if links:
            ln = rng.choice(links)
            choices += [Before(ln), After(link_id=ln.id)]
        return rng.choice(choices)

    kind = rng.choice(["attach", "attach", "detach", "detach_pos", "replace", "link", "update", "unlink"])
    if kind in ("attach", "link") and (not free or len(h.chain) >= CHAIN_MAX):
        kind = "detach"
    if kind == "attach":
        return kind, lambda: h.attach(rng.choice(free), anchor(), **kw)
    if kind == "link":
        def make():
            links.append(h.link_create(rng.choice(free), anchor(), **kw))
        return kind, make
    if kind == "detach" and prog_owned:
        return kind, lambda: h.detach(rng.choice(prog_owned), **kw)
    if kind == "detach_pos" and h.chain:
        return kind, lambda: h.detach(anchor=rng.choice([Head(), Tail()]), **kw)
    if kind == "replace" and prog_owned and free:
        return kind, lambda: h.attach(rng.choice(free), replace=rng.choice(prog_owned), **kw)
    if kind == "update" and links and free:
        return kind, lambda: h.link_update(rng.choice(links), rng.choice(free))
    if kind == "unlink" and links:
        def drop():
            ln = links.pop(rng.randrange(len(links)))
            h.link_detach(ln)
        return kind, drop
    if free and len(h.chain) < CHAIN_MAX:
        return "attach", lambda: h.attach(rng.choice(free), **kw)
    return "detach_pos", lambda: h.detach(anchor=Tail(), **kw)


@pytest.mark.parametrize("engine", ["jit"])
def test_random_edits_during_a_full_rate_replay(clang, tmp_path, engine):
    obj = compile_src(clang, STAMPS_C, tmp_path, "stamps")
    coll = Collection.load(str(obj), engine=engine)
    progs = [bind(coll, f"s{i}") for i in range(1, POOL + 1)]
    stamp_of = {p.id: i for i, p in enumerate(progs, 1)}
    trace = write_pcap(tmp_path / "in.pcap", [frame(i) for i in range(TRACE)])
    out = tmp_path / "pass.pcap"
    h = Hook("load")
    h.attach(progs[0])
    published = {(stamp_of[progs[0].id],)}
    rng = random.Random(1313)
    links: list = []
    kinds: dict[str, int] = {}
    refused = 0
    r = Replay(h, trace, loop=0, outputs={"pass": str(out)}, batch=BATCH).start()
    try:
        for _ in range(OPS):
            time.sleep(0.0005)       # let batches run between edits (the control plane is not a busy loop)
            kind, fn = _random_op(rng, h, progs, links)
            gen = h.generation
            try:
                fn()
            except DataplaneError:
                refused += 1
                assert h.generation == gen, "a refused edit published a chain"
                continue
            kinds[kind] = kinds.get(kind, 0) + 1
            published.add(tuple(stamp_of[p.id] for p in h.chain))
            # the hook's own view and the published native chain agree
            assert h.current()[1].prog_ids == tuple(p.id for p in h.chain)
    finally:
        r.cancel()
    summary = r.wait(60)
    assert summary.error is None and summary.packets > 0
    assert refused < OPS // 4 and len(kinds) == 7, (refused, kinds)

    # every batch ran exactly one published chain; no packet lost or doubled.
    # All frames are 64 bytes, so the output pcap is an array of records
    # (16-byte record header + frame) read in one go.
    raw = np.fromfile(out, dtype=np.uint8, offset=24)
    rec = raw.reshape(-1, 16 + 64)
    assert rec.shape[0] * 80 == raw.size and (rec[:, 8:12].view("<u4")[:, 0] == 64).all()
    pkt = rec[:, 16:]
    k = pkt.shape[0]
    assert k == summary.packets == summary.written["pass"] == summary.verdicts["pass"]
    seq = pkt[:, 14:18].astype(np.uint32)
    seq = (seq[:, 0] << 24) | (seq[:, 1] << 16) | (seq[:, 2] << 8) | seq[:, 3]
    assert (seq == np.arange(k) % TRACE).all(), "a packet out of order or lost"
    n = pkt[:, 47].astype(np.int64)
    assert n.max() <= CHAIN_MAX
    stamps = pkt[:, 47:48 + CHAIN_MAX].copy()            # count + ids (unused bytes are 0)
    whole = k - k % BATCH
    groups = stamps[:whole].reshape(-1, BATCH, stamps.shape[1])
    assert (groups == groups[:, :1, :]).all(), "two chains in one batch"
    firsts = np.concatenate([groups[:, 0, :], stamps[whole:]])      # one row per batch (+ the last, partial)
    rows = np.unique(np.ascontiguousarray(firsts).view(np.dtype((np.void, firsts.shape[1]))).ravel())
    seen = {tuple(row[1:1 + row[0]]) for row in (bytes(r) for r in rows)}
    assert seen <= published, f"never published: {sorted(seen - published)[:5]}"
    assert h.totals()["runs"] == summary.packets
    runs = sum(st["runs"] for st in h.stats(detached=True).values())
    assert runs == int(n.sum()), "per-program counters disagree with the programs the packets went through"
    assert len(seen) >= 20, f"only {len(seen)} chains were seen by the replay: the edits did not overlap it"
