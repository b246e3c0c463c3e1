"""Unverified programs are really stopped (issue 14), against a real
`dataplane serve --no-verify`: an endless loop replayed until stopped runs
each packet into its instruction budget (limits.unverified_insns), the
runs count as aborted/errors/budget_exceeded with a message naming the
program and the budget, Replay.Stop returns promptly, and a detached,
unloaded looping program leaves nothing running while the service keeps
serving.

The probe that found it: Replay.Stop said "did not stop within 30s" and
detach/unload reported OK while the loop kept running."""
from __future__ import annotations

import sys
import time

import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, gauge, scrape, served, serving  # noqa: E402
from test_insn_budget import BUDGET_C  # noqa: E402

TRACE = ROOT / "dataplane" / "data" / "sample_trace.pcap"
BUDGET = 200_000


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget")
    cfg = d / "budget.yaml"
    cfg.write_text(f"limits: {{unverified_insns: {BUDGET}}}\n")
    with served(*PORT_0, "--no-verify", "--config", str(cfg)) as s:
        yield s


def _counters(srv, hook: str, pid: int):
    r = srv.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT)
    for h in r.hooks:
        for c in h.counters:
            if c.program_id == pid:
                return c
    return None


def _status(srv, rid: int):
    return next(x for x in srv.replay.List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays if x.id == rid)


def _load_spin(srv, hook: str) -> int:
    obj = srv.build_c(BUDGET_C, "budget").read_bytes()
    r = srv.progs.Load(pb.LoadRequest(object=obj, program="spin", name=hook), timeout=RPC_TIMEOUT)
    pid = r.programs[0].id
    assert not r.programs[0].verified
    srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    return pid


def _wait_budget(srv, hook: str, pid: int):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        c = _counters(srv, hook, pid)
        if c is not None and c.budget_exceeded >= 2:
            return c
        time.sleep(0.1)
    raise AssertionError(f"no run hit the budget within 30 s: {c}")


def test_replay_stop_is_prompt_and_runs_are_counted(srv, build_c):
    srv.build_c = build_c
    pid = _load_spin(srv, "spinstop")
    st = srv.replay.Start(pb.StartReplayRequest(hook="spinstop", pcap=str(TRACE), loop=-1), timeout=RPC_TIMEOUT)
    c = _wait_budget(srv, "spinstop", pid)
    # every run of the loop ends on the budget, as a fault counted three ways
    assert c.errors == c.budget_exceeded and c.packets["aborted"] >= c.budget_exceeded
    assert f"program 'spin' (id {pid})" in c.last_error and f"instruction limit of {BUDGET} exceeded" in c.last_error
    # the service keeps serving while the loop runs: a read and health answer quickly
    t0 = time.monotonic()
    assert serving(srv)
    srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)
    assert time.monotonic() - t0 < 5
    text = scrape(srv)
    assert gauge(text, "dataplane_program_budget_exceeded_total", program="spin", id=str(pid)) >= 2
    assert gauge(text, "dataplane_program_errors_total", program="spin", id=str(pid)) >= 2
    t0 = time.monotonic()
    r = srv.replay.Stop(pb.StopReplayRequest(id=st.id), timeout=RPC_TIMEOUT)
    took = time.monotonic() - t0
    assert r.state == "stopped", r
    assert took < 10, f"Replay.Stop took {took:.1f}s"   # a batch of budget-bound runs, not forever
    assert r.verdicts["aborted"] == r.packets > 0
    srv.hooks.Detach(pb.DetachRequest(hook="spinstop", program_id=pid), timeout=RPC_TIMEOUT)
    srv.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


def test_detach_and_unload_leave_nothing_running(srv, build_c):
    srv.build_c = build_c
    pid = _load_spin(srv, "spindetach")
    st = srv.replay.Start(pb.StartReplayRequest(hook="spindetach", pcap=str(TRACE), loop=-1), timeout=RPC_TIMEOUT)
    try:
        _wait_budget(srv, "spindetach", pid)
        srv.hooks.Detach(pb.DetachRequest(hook="spindetach", program_id=pid), timeout=RPC_TIMEOUT)
        srv.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
        # the replay goes on over the now empty hook: packets pass, the loop no longer runs
        deadline = time.monotonic() + 20
        while True:
            s1 = _status(srv, st.id)
            time.sleep(1.0)
            s2 = _status(srv, st.id)
            if s2.verdicts["aborted"] == s1.verdicts["aborted"] and s2.verdicts["pass"] > s1.verdicts["pass"]:
                break
            assert time.monotonic() < deadline, f"looping program still runs after detach+unload: {s1} {s2}"
        assert s2.state == "running"
        assert serving(srv)
        names = [p.name for p in srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs]
        assert "spin" not in names
    finally:
        srv.replay.Stop(pb.StopReplayRequest(id=st.id), timeout=RPC_TIMEOUT)
