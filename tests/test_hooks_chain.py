"""Native chain runner and Hook: chain semantics (first non-PASS verdict
wins, modifications carry over), counters, bpf_mprog-style attach/detach."""
from __future__ import annotations

import errno

import pytest

from dataplane.errors import AlreadyExists, DataplaneError, NotFound, StaleRevision
from dataplane.hooks.chain import redirect_target
from dataplane.hooks import Hook, bind
from dataplane.abi.xdp import XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_REDIRECT, XDP_TX
from dataplane.io.frames import FrameBatch

from support.hooks import CHAIN_C, frame, progs
from support.progs import compile_src

ENGINES = ["interp", "jit"]


@pytest.fixture(scope="module")
def chain_obj(clang, tmp_path_factory):
    return compile_src(clang, CHAIN_C, tmp_path_factory.mktemp("chain"), "chain")


def _batch(packets):
    b = FrameBatch(max(len(packets), 1))
    for p in packets:
        b.append(p)
    return b


def _run(hook, packets):
    b = _batch(packets)
    hook.current()[1].run(b)
    return b, [b.verdict(i) for i in range(len(b))], [b.frame(i) for i in range(len(b))]


@pytest.mark.parametrize("engine", ENGINES)
def test_first_pass_then_second_decides(chain_obj, engine):
    _, (mark, decide) = progs(chain_obj, engine, "mark", "decide")
    h = Hook("h")
    h.attach(mark)
    h.attach(decide)
    pkts = [frame(i, verdict_byte=v) for i, v in enumerate([XDP_DROP, XDP_TX, XDP_PASS, XDP_REDIRECT, XDP_ABORTED])]
    _, verdicts, out = _run(h, pkts)
    # decide returns byte 30 only if it saw mark's byte: the modification carried over
    assert verdicts == [XDP_DROP, XDP_TX, XDP_PASS, XDP_REDIRECT, XDP_ABORTED]
    for p in out:
        assert p[20] == 0xA1 and p[21] == 0xB2
    st = h.stats()
    assert st[mark.id]["packets"]["pass"] == 5 and st[mark.id]["runs"] == 5
    assert st[decide.id]["packets"] == {"aborted": 1, "drop": 1, "pass": 1, "tx": 1, "redirect": 1}
    assert h.totals()["packets"] == {"aborted": 1, "drop": 1, "pass": 1, "tx": 1, "redirect": 1}
    assert st[decide.id]["run_ns"] > 0


@pytest.mark.parametrize("engine", ENGINES)
def test_non_pass_ends_chain(chain_obj, engine):
    _, (decide, s1, mark) = progs(chain_obj, engine, "decide", "stamp1", "mark")
    h = Hook("h")
    h.attach(decide)       # without mark first: decide aborts
    h.attach(s1)
    _, verdicts, out = _run(h, [frame(0, verdict_byte=XDP_PASS)])
    assert verdicts == [XDP_ABORTED]
    assert out[0][47] == 0                      # stamp1 never ran
    assert h.stats()[s1.id]["runs"] == 0
    # mark before decide: now decide passes and stamp1 runs after it
    h.attach(mark, before=decide)
    assert [p.name for p in h.chain] == ["mark", "decide", "stamp1"]
    _, verdicts, out = _run(h, [frame(0, verdict_byte=XDP_PASS), frame(1, verdict_byte=XDP_DROP)])
    assert verdicts == [XDP_PASS, XDP_DROP]
    assert out[0][47:49] == b"\x01\x01" and out[1][47] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_stamp_order_and_empty_chain(chain_obj, engine):
    _, (s1, s2, s3) = progs(chain_obj, engine, "stamp1", "stamp2", "stamp3")
    h = Hook("h")
    _, verdicts, out = _run(h, [frame(0)])
    assert verdicts == [XDP_PASS] and out[0] == frame(0)       # empty chain passes untouched
    h.attach(s2)
    h.attach(s1, before=s2)
    h.attach(s3, after=s1)
    _, verdicts, out = _run(h, [frame(0), frame(1, size=200)])
    assert verdicts == [XDP_PASS, XDP_PASS]
    assert [list(p[47:51]) for p in out] == [[3, 1, 3, 2]] * 2
    assert len(out[1]) == 200


@pytest.mark.parametrize("engine", ENGINES)
def test_adjust_head_carries_over(chain_obj, engine):
    _, (pop, s1) = progs(chain_obj, engine, "pop4", "stamp1")
    h = Hook("h")
    h.attach(pop)
    h.attach(s1)
    pkt = frame(0, size=80)
    _, verdicts, out = _run(h, [pkt])
    assert verdicts == [XDP_PASS]
    assert len(out[0]) == 76
    expect = bytearray(pkt[4:])
    expect[47], expect[48] = 1, 1          # stamp1 wrote at the new data + 47
    assert out[0] == bytes(expect)


@pytest.mark.parametrize("engine", ENGINES)
def test_redirect_target_and_short_packet(chain_obj, engine):
    _, (r7, s1) = progs(chain_obj, engine, "redirect7", "stamp1")
    h = Hook("h")
    h.attach(r7)
    b, verdicts, _ = _run(h, [frame(0)])
    assert verdicts == [XDP_REDIRECT]
    assert redirect_target(b, 0) == 7
    h.detach(r7)
    h.attach(s1)
    _, verdicts, _ = _run(h, [b"\x01" * 20])     # stamp needs 64 bytes: aborts
    assert verdicts == [XDP_ABORTED]
    assert h.stats()[s1.id]["packets"]["aborted"] == 1


def test_hook_revisions(chain_obj):
    _, (s1, s2, s3) = progs(chain_obj, "interp", "stamp1", "stamp2", "stamp3")
    h = Hook("h")
    assert h.revision == 1 and h.chain == ()
    assert h.attach(s1) == 2
    assert h.attach(s2, expected_revision=2) == 3
    with pytest.raises(StaleRevision) as ei:
        h.attach(s3, expected_revision=2)
    assert ei.value.kind == errno.ESTALE
    assert h.revision == 3 and [p.id for p in h.chain] == [s1.id, s2.id]
    with pytest.raises(AlreadyExists):
        h.attach(s1)
    with pytest.raises(NotFound):
        h.attach(s3, before=12345)
    with pytest.raises(DataplaneError):
        h.attach(s3, before=s1, after=s2)
    assert h.revision == 3                         # failed changes change nothing
    assert h.attach(s3, replace=s1) == 4
    assert [p.name for p in h.chain] == ["stamp3", "stamp2"]
    assert h.current()[0] == 4 and h.current()[1].prog_ids == (s3.id, s2.id)
    with pytest.raises(StaleRevision):
        h.detach(s2, expected_revision=3)
    assert h.detach(s2.id, expected_revision=4) == 5
    with pytest.raises(NotFound):
        h.detach(s2)
    assert [p.name for p in h.chain] == ["stamp3"]


def test_counters_survive_chain_changes(chain_obj):
    _, (s1, s2) = progs(chain_obj, "jit", "stamp1", "stamp2")
    h = Hook("h")
    h.attach(s1)
    _run(h, [frame(i) for i in range(3)])
    h.attach(s2)                                 # new chain, same attachment of s1
    _run(h, [frame(i) for i in range(2)])
    st = h.stats()
    assert st[s1.id]["packets"]["pass"] == 5 and st[s1.id]["bytes"]["pass"] == 5 * 64
    assert st[s2.id]["packets"]["pass"] == 2
    assert h.totals()["packets"]["pass"] == 5


def test_bind_errors(chain_obj):
    from dataplane.runtime.collection import Collection
    coll = Collection.load(str(chain_obj), engine="interp")
    with pytest.raises(NotFound):
        bind(coll)                                # several XDP programs: name one
    with pytest.raises(NotFound):
        bind(coll, "nope")


def test_chain_limit(chain_obj):
    from dataplane.hooks.hook import MAX_PROGS
    from dataplane.runtime.collection import Collection
    h = Hook("h")
    bound = []
    for _ in range(MAX_PROGS + 1):          # distinct program ids: one collection each
        bound.append(bind(Collection.load(str(chain_obj), engine="interp"), "stamp1"))
    for b in bound[:MAX_PROGS]:
        h.attach(b)
    with pytest.raises(DataplaneError) as ei:
        h.attach(bound[-1])
    # bpf_mprog_max() is 63 (one of the 64 slots ends the array): the 64th is ERANGE
    assert MAX_PROGS == 63
    assert ei.value.kind == errno.ERANGE and len(h.chain) == MAX_PROGS


def test_failed_attach_changes_nothing_and_reattach_keeps_counters(chain_obj):
    _, (s1, s2) = progs(chain_obj, "interp", "stamp1", "stamp2")
    h = Hook("h")
    h.attach(s1)
    _run(h, [frame(0), frame(1)])
    h.detach(s1)
    assert h.chain == () and h.revision == 1      # tcx frees an emptied entry: a fresh one starts at 1
    with pytest.raises(NotFound):
        h.attach(s1, replace=s2)                  # s2 not attached: nothing happens
    assert h.chain == () and h.revision == 1
    h.attach(s2)
    rebound = bind(s1.collection, "stamp1")       # a new binding of the same program
    h.attach(rebound, before=s2)
    assert h.chain[0] is rebound
    _run(h, [frame(2)])
    assert h.stats()[s1.id]["runs"] == 3          # counters of the first attachment carried on
