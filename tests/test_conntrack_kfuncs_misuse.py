"""Conntrack kfuncs on the checked path: a program loaded with
verify=False runs on the bounds-checked interpreter, which has no verifier
reference tracking behind it, so the kfuncs themselves must keep a program
from touching an nf_conn it no longer holds (the kernel's verifier rejects
all of these programs at load time; here they stop at run time).

Invariants checked after every case: the table's entries are readable,
each entry's use count is back to its base (the table's reference only),
and flushing frees every entry (stats entries == 0)."""
from __future__ import annotations

import pytest

from support import progs as build
from conftest import ROOT
from dataplane.errors import ExecutionError
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection


@pytest.fixture(scope="module")
def misuse_obj(clang, tmp_path_factory):
    out = tmp_path_factory.mktemp("ctmisuse")
    return build.compile_c(clang, ROOT / "tests" / "unverified_progs" / "xdp_ct_misuse.c", out / "xdp_ct_misuse.o")


def _coll(obj):
    coll = Collection.load(obj, engine="interp", verify=False, kfuncs=default_registry())
    return coll


def _pkt(case: int) -> bytes:
    return bytes([case]) + bytes(63)


def _settled(coll):
    """No reference outstanding: every listed entry holds only the table's."""
    entries = coll.conntrack.entries(coll.runner.ct.now)
    assert all(e["use"] == 1 for e in entries), entries
    st = coll.conntrack.stats()
    assert st["entries"] == st["hashed"] == len(entries)
    coll.conntrack.flush()
    assert coll.conntrack.stats()["entries"] == 0
    return entries


def test_two_references_to_one_entry(misuse_obj):
    coll = _coll(misuse_obj)
    assert coll.run("xdp_ct_misuse", _pkt(1))[0] == 2
    (e,) = _settled(coll)
    assert e["mark"] == 11


@pytest.mark.parametrize("case", [2, 3, 4, 5], ids=["read-after-release", "double-release",
                                                    "release-foreign", "change-timeout-after-release"])
def test_use_after_release_stops_the_program(misuse_obj, case):
    coll = _coll(misuse_obj)
    assert coll.run("xdp_ct_misuse", _pkt(1))[0] == 2      # one entry, sport 1
    with pytest.raises(ExecutionError):
        coll.run("xdp_ct_misuse", _pkt(case))
    # the table is intact: the entry is still there with the table's reference only
    (e,) = _settled(coll)
    assert e["orig"]["sport"] == 1


def test_many_entries_held_in_one_run(misuse_obj):
    """2500 insert/mark/release rounds in one run: released entries give
    their regions back, so the region table (4096) does not fill up."""
    coll = _coll(misuse_obj)
    assert coll.run("xdp_ct_misuse", _pkt(7))[0] == 2
    entries = _settled(coll)
    assert len(entries) == 2500
    assert sorted(e["mark"] for e in entries) == list(range(2500))
