"""The dataplane's own additions to bpf_mprog (FIRST/LAST pins, proceed-on
sets) and the value types (anchors, links) -- the kernel has no FIRST/LAST,
so these are checked here rather than against tcx (tests/test_hooks_vs_tcx.py)."""
from __future__ import annotations

import errno

import pytest

from dataplane.errors import DataplaneError
from dataplane.hooks import After, Before, Head, Hook, Tail, mprog
from dataplane.abi.xdp import XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX
from dataplane.hooks import link as links
from dataplane.hooks.mprog import (BPF_F_AFTER, BPF_F_BEFORE, BPF_F_ID, BPF_F_LINK, DP_F_FIRST, DP_F_LAST,
                                   proceed_set)
from dataplane.io.frames import FrameBatch

from support.hooks import CHAIN_C, frame, progs
from support.progs import compile_src


@pytest.fixture(scope="module")
def chain_obj(clang, tmp_path_factory):
    return compile_src(clang, CHAIN_C, tmp_path_factory.mktemp("mprog"), "chain")


@pytest.fixture
def five(chain_obj):
    # five distinct programs (one collection: distinct ids)
    _, ps = progs(chain_obj, "interp", "stamp1", "stamp2", "stamp3", "mark", "decide")
    return ps


def kind(fn, *a, **kw):
    with pytest.raises(DataplaneError) as ei:
        fn(*a, **kw)
    return ei.value.kind


def ids(h):
    return [p.id for p in h.chain]


# ---------------------------------------------------------------- anchors

def test_anchors_compile_to_the_kernel_vocabulary(five):
    a, *_ = five
    ln = links.Link(7, "h", a)
    assert Head().request() == (BPF_F_BEFORE, None) and str(Head()) == "head"
    assert Tail().request() == (BPF_F_AFTER, None) and str(Tail()) == "tail"
    assert Before(a).request() == (BPF_F_BEFORE, a)
    assert After(ln).request() == (BPF_F_AFTER | BPF_F_LINK, ln)
    assert Before(prog_id=9).request() == (BPF_F_BEFORE | BPF_F_ID, 9)
    assert After(link_id=3).request() == (BPF_F_AFTER | BPF_F_LINK | BPF_F_ID, 3)
    assert str(After(link_id=3)) == "after link 3" and str(Before(a)) == f"before prog {a.id}"
    for bad in (lambda: Before(), lambda: Before(a, prog_id=1), lambda: After(5), lambda: Before(prog_id=-1),
                lambda: After(object())):
        with pytest.raises(DataplaneError):
            bad()


def test_anchor_positions_on_a_hook(five):
    a, b, c, d, e = five
    h = Hook("anchors")
    h.attach(a)
    h.attach(b, Head())
    h.attach(c, After(a))
    h.attach(d, Before(prog_id=c.id))
    ln = h.link_create(e, Before(b))
    assert ids(h) == [e.id, b.id, a.id, d.id, c.id]
    h.detach(anchor=After(ln))          # the entry right after the link's: b
    assert ids(h) == [e.id, a.id, d.id, c.id]
    h.detach(anchor=Tail())
    assert ids(h) == [e.id, a.id, d.id]
    assert kind(h.detach, anchor=Head()) == errno.EBUSY      # the head is the link's: program ops cannot touch it


# ---------------------------------------------------------------- links

def test_links_create_update_detach(five):
    a, b, c, *_ = five
    h = Hook("links")
    assert h.attach(a) == 2
    ln = h.link_create(b, After(a))
    assert ln.revision == 3 and ln.hook == "links" and ln.attached and links.lookup(ln.id) is ln
    assert h.query().link_ids == (0, ln.id)
    assert h.link_update(ln, b) == 3                 # same program: no commit
    assert h.link_update(ln, c) == 4 and ln.program is c and ids(h) == [a.id, c.id]
    assert h.stats()[c.id]["runs"] == 0
    # program operations cannot touch a link-owned entry
    assert kind(h.detach, c) == errno.EBUSY
    assert kind(h.attach, b, replace=c) == errno.EBUSY
    assert kind(h.link_update, ln, a) == errno.EEXIST       # a runs already
    assert h.link_detach(ln) == 5 and not ln.attached and ids(h) == [a.id]
    assert kind(links.lookup, ln.id) == errno.ENOENT
    assert h.link_detach(ln) == 5                     # detaching a detached link: nothing happens
    assert kind(h.link_update, ln, b) == errno.ENOLINK


def test_removed_hook_leaves_defunct_links(five):
    a, b, *_ = five
    h = Hook("gone")
    ln = h.link_create(a)
    h.attach(b)
    h.remove()
    assert ln.defunct and not ln.attached and ln.info()["hook"] == ""
    assert kind(h.attach, a) == errno.ENODEV and kind(h.query) == errno.ENODEV
    assert kind(h.link_update, ln, b) == errno.ENOLINK
    assert h.link_detach(ln) == 1                      # defunct: a no-op, as the kernel's


# ---------------------------------------------------------------- FIRST / LAST

def test_first_is_held_for_the_entry_lifetime(five):
    a, b, c, d, e = five
    h = Hook("first")
    h.attach(a, first=True)                    # FIRST alone goes to the head
    h.attach(b)
    assert ids(h) == [a.id, b.id] and h.query().flags == (DP_F_FIRST, 0)
    assert kind(h.attach, c, Head()) == errno.EBUSY            # nothing before FIRST
    assert kind(h.attach, c, Before(a)) == errno.EBUSY
    assert kind(h.attach, c, first=True) == errno.EBUSY        # one FIRST per hook
    assert kind(h.link_create, c, Head()) == errno.EBUSY
    h.attach(c, After(a))                      # after it is fine
    assert ids(h) == [a.id, c.id, b.id] and h.revision == 4
    # an admin REPLACE of the FIRST entry lifts the pin
    h.attach(d, replace=a)
    assert ids(h) == [d.id, c.id, b.id] and h.query().flags == (0, 0, 0)
    h.attach(e, Head())
    assert ids(h)[0] == e.id


def test_first_must_be_the_head(five):
    a, b, c, *_ = five
    h = Hook("first-pos")
    h.attach(a)
    assert kind(h.attach, b, After(a), first=True) == errno.ERANGE
    assert kind(h.attach, b, Tail(), first=True) == errno.ERANGE
    h.attach(b, Before(a), first=True)         # an anchor that agrees with the head is fine
    assert ids(h) == [b.id, a.id]
    h.detach(b)                                # detaching lifts it
    h.attach(c, Head())
    assert ids(h) == [c.id, a.id]


def test_last_and_links(five):
    a, b, c, d, _ = five
    h = Hook("last")
    ln = h.link_create(a, last=True)
    assert ln.flags == DP_F_LAST
    assert kind(h.attach, b) == errno.EBUSY                     # plain append is after LAST
    assert kind(h.attach, b, After(ln)) == errno.EBUSY
    assert kind(h.attach, b, last=True) == errno.EBUSY
    h.attach(b, Before(ln))
    h.attach(c, Head(), first=True)
    assert ids(h) == [c.id, b.id, a.id] and h.query().flags == (DP_F_FIRST, 0, DP_F_LAST)
    h.link_update(ln, d)                        # the pin belongs to the link: it stays
    assert ids(h) == [c.id, b.id, d.id] and h.query().flags[2] == DP_F_LAST
    assert kind(h.attach, a) == errno.EBUSY
    h.link_detach(ln)                           # and goes with it
    h.attach(a)
    assert ids(h) == [c.id, b.id, a.id]


def test_first_and_last_together_only_alone(five):
    a, b, *_ = five
    h = Hook("both")
    h.attach(a, first=True, last=True)
    assert kind(h.attach, b, Head()) == errno.EBUSY and kind(h.attach, b) == errno.EBUSY
    h2 = Hook("both2")
    h2.attach(b)
    assert kind(h2.attach, a, first=True, last=True) == errno.ERANGE


def test_pins_are_dataplane_flags():
    # far from the kernel's bits: BPF_F_ATTACH_MASK_MPROG (the kernel refuses them: test_hooks_vs_tcx)
    assert not (DP_F_FIRST | DP_F_LAST) & mprog.ATTACH_MASK
    assert mprog.flag_names(DP_F_FIRST | BPF_F_BEFORE) == ["before", "first"]


# ---------------------------------------------------------------- proceed-on

def test_proceed_set_parsing():
    assert proceed_set(None) == {XDP_PASS}
    assert proceed_set(["pass", "DROP", 3]) == {XDP_PASS, XDP_DROP, XDP_TX}
    for bad in (["nope"], [7], [True], [-1]):
        with pytest.raises(DataplaneError):
            proceed_set(bad)


def _run(h, packets):
    b = FrameBatch(len(packets))
    for p in packets:
        b.append(p)
    h.current()[1].run(b)
    return [b.verdict(i) for i in range(len(b))], [b.frame(i) for i in range(len(b))]


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_proceed_on_runs_the_next_program(chain_obj, engine):
    _, (mark, decide, s1) = progs(chain_obj, engine, "mark", "decide", "stamp1")
    h = Hook("proceed")
    h.attach(mark)
    h.attach(decide, proceed_on={"pass", "drop", "tx"})
    h.attach(s1)
    pkts = [frame(i, verdict_byte=v) for i, v in enumerate([XDP_DROP, XDP_TX, XDP_ABORTED, XDP_PASS])]
    verdicts, out = _run(h, pkts)
    # DROP and TX are in decide's set: stamp1 runs and its PASS is the verdict; ABORTED is not
    assert verdicts == [XDP_PASS, XDP_PASS, XDP_ABORTED, XDP_PASS]
    assert [p[47] for p in out] == [1, 1, 0, 1]
    st = h.stats()
    assert st[s1.id]["runs"] == 3 and st[decide.id]["packets"]["drop"] == 1
    assert h.totals()["packets"]["pass"] == 3 and h.totals()["packets"]["aborted"] == 1


@pytest.mark.parametrize("engine", ["interp", "jit"])
def test_last_program_verdict_is_final_even_when_it_proceeds(chain_obj, engine):
    _, (mark, decide) = progs(chain_obj, engine, "mark", "decide")
    h = Hook("proceed-last")
    h.attach(mark)
    h.attach(decide, proceed_on=[XDP_PASS, XDP_DROP])
    verdicts, _ = _run(h, [frame(0, verdict_byte=XDP_DROP), frame(1, verdict_byte=XDP_TX)])
    assert verdicts == [XDP_DROP, XDP_TX]
    # a link keeps its proceed-on set across an update
    h2 = Hook("proceed-link")
    ln = h2.link_create(mark, proceed_on={"pass"})
    _, (s2,) = progs(chain_obj, engine, "stamp2")
    h2.attach(s2)
    h2.link_update(ln, decide)
    assert h2.entries[0].proceed_on == {XDP_PASS}
