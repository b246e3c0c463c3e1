"""A program that exits still holding an nf_conn (case 6 of
tests/unverified_progs/xdp_ct_misuse.c: a lookup never released). The
kernel's verifier rejects it; loaded with verify=False it runs on the
checked engines, and the conntrack kfunc table's run-end cleanup
(dp_run_end_fn, registered by dataplane.kfuncs) must put the reference when
the run ends -- on the interpreter, the checked JIT and the hooks' chain
runner -- or the entry could never be freed."""
from __future__ import annotations

import pytest

from support import progs as build
from conftest import ROOT
from dataplane.hooks import Hook, bind
from dataplane.abi.xdp import XDP_PASS
from dataplane.io.frames import FrameBatch
from dataplane.kfuncs import default_registry
from dataplane.runtime.collection import Collection

ENGINES = ["interp", "jit"]


@pytest.fixture(scope="module")
def misuse_obj(clang, tmp_path_factory):
    out = tmp_path_factory.mktemp("ctleak")
    return build.compile_c(clang, ROOT / "tests" / "unverified_progs" / "xdp_ct_misuse.c", out / "xdp_ct_misuse.o")


def _pkt(case: int) -> bytes:
    return bytes([case]) + bytes(63)


def _uses(coll):
    return [e["use"] for e in coll.conntrack.entries(coll.runner.ct.now)]


def _flush_frees_all(coll):
    coll.conntrack.flush()
    assert coll.conntrack.stats()["entries"] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_leaked_lookup_is_put_at_run_end(misuse_obj, engine):
    coll = Collection.load(misuse_obj, engine=engine, verify=False, kfuncs=default_registry())
    if engine == "jit":
        assert coll.programs["xdp_ct_misuse"].interp.checked
    assert coll.run("xdp_ct_misuse", _pkt(1))[0] == XDP_PASS     # creates the entry (sport 1)
    assert _uses(coll) == [1]
    for repeat in (1, 5):
        # case 6 looks the entry up and exits holding it
        assert coll.run("xdp_ct_misuse", _pkt(6), repeat)[0] == XDP_PASS
        assert _uses(coll) == [1]
    _flush_frees_all(coll)


@pytest.mark.parametrize("engine", ENGINES)
def test_leaked_lookup_in_chain_runner(misuse_obj, engine):
    coll = Collection.load(misuse_obj, engine=engine, verify=False, kfuncs=default_registry())
    assert coll.run("xdp_ct_misuse", _pkt(1))[0] == XDP_PASS
    prog = bind(coll, "xdp_ct_misuse")
    hook = Hook("leak")
    hook.attach(prog)
    b = FrameBatch(64)
    for _ in range(64):
        b.append(_pkt(6))
    hook.current()[1].run(b)
    assert [b.verdict(i) for i in range(64)] == [XDP_PASS] * 64
    assert hook.stats()[prog.id]["errors"] == 0
    assert _uses(coll) == [1]
    _flush_frees_all(coll)


def test_cleanup_is_registered_on_the_kfunc_table_only():
    """Layering: the runtime defines the hook, the kfunc family sets it;
    a table without conntrack kfuncs has none (no per-run call at all)."""
    from dataplane.kfuncs.ct_kfuncs import has_run_end
    from dataplane.runtime.interp import HelperTable
    assert has_run_end(default_registry().table())
    assert not has_run_end(HelperTable())
