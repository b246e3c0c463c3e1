"""The kernel's own tcx acceptance suite as the oracle of the dataplane's hooks.

Every scenario of tests/support/mprog_scenarios.py (the 20 tests of tc_opts.c and
the 14 of tc_links.c, as operation sequences) runs on the running kernel's
tcx (a veth pair in a network namespace made here) and on dataplane.hooks;
each step's errno, the resulting order (program and link names mapped from
each side's ids), the revision and the link ids must agree, and the kernel
must do what the selftest says it does (so the port is faithful). Each
scenario runs twice on the dataplane side: on the hooks directly and
through the running service's gRPC API.
"""
from __future__ import annotations

import os

import pytest

from conftest import require
from support.mprog_scenarios import scenarios, selftests
from support.progs import compile_src
from support.tcx import XDP_PROGS_C, DataplaneHooks, KernelTcx, run_scenario

SCENARIOS = scenarios()
ALL_PROGS = sorted({p for s in SCENARIOS for p in s.progs})


@pytest.fixture(scope="module")
def kernel():
    require(os.geteuid() == 0, "root (bpf(), netns, tcx)")
    k = KernelTcx(ALL_PROGS)
    try:
        yield k
    finally:
        k.close()


@pytest.fixture(scope="module")
def hooks(clang, tmp_path_factory):
    return DataplaneHooks(compile_src(clang, XDP_PROGS_C, tmp_path_factory.mktemp("mprog"), "mprog_progs"))


def test_the_port_covers_both_selftest_files():
    names = selftests()
    assert len([n for n in names if n.startswith("tc_opts_")]) == 20, sorted(names)
    assert len([n for n in names if n.startswith("tc_links_")]) == 14, sorted(names)


@pytest.fixture(scope="module")
def grpc_hooks(clang, tmp_path_factory):
    from support.service import PORT_0, served
    from support.tcx_grpc import DataplaneGrpc
    d = tmp_path_factory.mktemp("mprog_grpc")
    obj = compile_src(clang, XDP_PROGS_C, d, "mprog_progs")
    with served(*PORT_0) as server:
        yield DataplaneGrpc(server, obj, d)


@pytest.mark.parametrize("scen", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_agrees_with_tcx(kernel, hooks, scen):
    """The hooks called directly."""
    problems = run_scenario(scen, kernel, hooks)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("scen", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_agrees_with_tcx_over_grpc(kernel, grpc_hooks, scen):
    """The same, through the service's Hooks and Links RPCs, as a management daemon sends them."""
    problems = run_scenario(scen, kernel, grpc_hooks)
    assert not problems, "\n".join(problems)


def test_first_last_are_dataplane_only(kernel):
    """DP_F_FIRST / DP_F_LAST are outside the kernel's BPF_F_ATTACH_MASK_MPROG:
    tcx refuses them (EINVAL), which is why they have their own tests."""
    import errno as _errno

    from dataplane.hooks.mprog import DP_F_FIRST, DP_F_LAST
    from support.mprog_scenarios import Op, Scenario
    kernel.start(Scenario("first_last", "", [], progs=("tc1",)))
    try:
        for flag in (DP_F_FIRST, DP_F_LAST):
            assert kernel.do(Op("attach", "ingress", "tc1", flags=flag)) == _errno.EINVAL
            assert kernel.do(Op("link", "ingress", "tc1", "l1", flags=flag)) == _errno.EINVAL
    finally:
        kernel.finish()
