"""Bounded loads in the service (issue 14, part 2), against a real `dataplane serve`.

Found by the probe: eight slow loads made Programs.Load and Replay.Start
time out for 42 s while health said SERVING; six abandoned loads completed
later and stayed loaded with ids the client never received; a load in
progress held SIGTERM.  Loads now run on a bounded pool with a deadline
(service/verifypool.py): other RPCs keep answering, a load past its
deadline or given up by its client is stopped and leaves nothing behind,
the queue is bounded, SIGTERM exits while a verification runs.

The slow program is a bounded loop over a packet byte whose verification
takes far longer than any deadline here (tens of seconds at 2000
iterations before verifier work; this one has 100,000).
"""
from __future__ import annotations

import statistics
import sys
import threading
import time

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.progs import SLOW_LOOP_C  # noqa: E402
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served, start_server, stop, wait_ready  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"



@pytest.fixture(scope="module")
def slow(build_c):
    return build_c(SLOW_LOOP_C, "slow_loop").read_bytes()


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("bounded") / "b.yaml"
    cfg.write_text("limits: {verify_workers: 1, verify_queue: 1, verify_seconds: 3}\n")
    with served(*PORT_0, "--config", str(cfg)) as s:
        yield s


def _ids(srv) -> set[int]:
    return {p.id for p in srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs}


def _fast_load_then_unload(srv) -> float:
    t0 = time.monotonic()
    r = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="fast"), timeout=RPC_TIMEOUT)
    took = time.monotonic() - t0
    srv.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)
    return took


def _pings(srv, seconds: float) -> list[float]:
    lat, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)
        lat.append(time.monotonic() - t0)
        time.sleep(0.01)
    return lat


def test_deadline_stops_the_load_and_frees_the_worker(srv, slow):
    before = _ids(srv)
    t0 = time.monotonic()
    err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=slow, name="slow"), timeout=RPC_TIMEOUT))
    took = time.monotonic() - t0
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err.details()
    assert "3 s" in err.details() and "limits.verify_seconds" in err.details()
    assert took < RPC_TIMEOUT / 2
    assert _ids(srv) == before                      # nothing published
    # the only worker is free again: had the verification kept running, this would wait for it
    assert _fast_load_then_unload(srv) < 3.0


def test_abandoned_load_is_stopped_and_leaves_nothing(srv, slow):
    before = _ids(srv)
    err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=slow, name="abandoned"), timeout=1.0))
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the client's deadline was the load's deadline: the worker is free well before verify_seconds
    assert _fast_load_then_unload(srv) < 3.0
    time.sleep(0.5)
    assert _ids(srv) == before


def _delay_during_a_slow_load(srv, slow):
    baseline = _pings(srv, 1.5)
    errors = []

    def load():
        try:
            srv.progs.Load(pb.LoadRequest(object=slow, name="slow-bg"), timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            errors.append(exc.code())
    th = threading.Thread(target=load)
    th.start()
    time.sleep(0.2)
    during = _pings(srv, 2.0)                       # the load runs for its 3 s deadline meanwhile
    th.join()
    assert errors == [grpc.StatusCode.DEADLINE_EXCEEDED]
    delay = max(during) - statistics.median(baseline)
    print(f"List latency: baseline median {statistics.median(baseline) * 1e3:.1f} ms max "
          f"{max(baseline) * 1e3:.1f} ms; during a slow load median {statistics.median(during) * 1e3:.1f} ms "
          f"max {max(during) * 1e3:.1f} ms ({len(during)} calls)")
    # no call waited more than 100 ms longer than a typical call without the load (or than the
    # worst one without it, on a machine whose scheduling noise is larger than that)
    return delay < 0.1 or max(during) <= max(baseline) + 0.02, (delay, max(during), max(baseline))


def test_slow_load_does_not_delay_other_rpcs(srv, slow):
    # Up to three measurements: a verification that holds the GIL or the
    # handler threads delays every one of them by seconds, while one
    # scheduling stall of a shared CI machine hits a single measurement.
    tries = []
    for _ in range(3):
        ok, figures = _delay_during_a_slow_load(srv, slow)
        tries.append(figures)
        if ok:
            return
    raise AssertionError(f"every measurement delayed List by >= 100 ms: (delay, max during, max baseline) = {tries}")


def test_waiting_loads_are_bounded(srv, slow):
    before = _ids(srv)
    codes = []

    def load():
        try:
            srv.progs.Load(pb.LoadRequest(object=slow, name="q"), timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            codes.append((exc.code(), exc.details()))
    ths = [threading.Thread(target=load) for _ in range(3)]
    for t in ths:
        t.start()
        time.sleep(0.3)
    for t in ths:
        t.join()
    kinds = sorted(c.name for c, _ in codes)
    # one runs, one waits (both stopped by the deadline), the third finds the queue full
    assert kinds == ["DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"], codes
    assert any("limits.verify_queue" in d for _, d in codes)
    assert _ids(srv) == before


def test_sigterm_is_not_held_by_a_verification(tmp_path, slow):
    cfg = tmp_path / "t.yaml"
    cfg.write_text("limits: {verify_seconds: 600}\n")
    proc, lines = start_server(*PORT_0, "--config", str(cfg))
    try:
        g, _ = wait_ready(proc, lines)
        ch = grpc.insecure_channel(g)
        from dataplane.service.protos import rpc
        fut = rpc.ProgramsStub(ch).Load.future(pb.LoadRequest(object=slow, name="term"), timeout=RPC_TIMEOUT)
        time.sleep(1.5)                             # the verification is running
        t0 = time.monotonic()
        proc.terminate()
        rc = proc.wait(timeout=20)
        took = time.monotonic() - t0
        assert rc == 0
        assert took < 8.0, took                    # the grace period, not the verification
        assert fut.exception(timeout=10) is not None
        ch.close()
    finally:
        stop(proc)
