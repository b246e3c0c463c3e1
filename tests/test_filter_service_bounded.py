"""Filter.Restore on the bounded verify pool (issue 14): a huge ruleset waits
for a verifier like Programs.Load, is stopped at its deadline (leaving the
hook as it was), counts against limits.verify_queue, and other RPCs keep
answering while it translates -- against a real `dataplane serve`."""
from __future__ import annotations

import sys
import threading
import time

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served  # noqa: E402

SMALL = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 23 -j DROP\nCOMMIT\n"


def ruleset(n: int) -> str:
    # translation takes roughly 25-50 us per rule on an idle 2-core machine (more under load):
    # 160,000 rules stay well past the 2 s deadline below even when idle; 40,000 finish in ~1-2 s
    lines = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    for i in range(n):
        lines.append(f"-A INPUT -p {('tcp', 'udp')[i % 2]} -s 10.{(i >> 8) & 255}.{i & 255}.0/24 "
                     f"--dport {1 + i % 60000} -m comment --comment r{i} -j {('DROP', 'ACCEPT', 'RETURN')[i % 3]}")
    return "\n".join(lines + ["COMMIT", ""])


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("fbounded") / "b.yaml"
    cfg.write_text("limits: {verify_workers: 1, verify_queue: 1, verify_seconds: 2}\n")
    with served(*PORT_0, "--config", str(cfg)) as s:
        s.filter = rpc.FilterStub(s.channel)
        yield s


def test_big_restore_is_bounded_and_others_answer(srv):
    big = ruleset(160_000)
    errors: dict[str, grpc.StatusCode] = {}

    def restore(name):
        try:
            srv.filter.Restore(pb.RestoreFilterRequest(hook=name, rules=big), timeout=RPC_TIMEOUT)
        except grpc.RpcError as exc:
            errors[name] = (exc.code(), exc.details())
    running = threading.Thread(target=restore, args=("big1",))
    running.start()
    time.sleep(0.3)
    queued = threading.Thread(target=restore, args=("big2",))    # waits for the one verifier
    queued.start()
    time.sleep(0.3)
    # a third has no room: the queue is the loads' queue (limits.verify_queue)
    err = rpc_error(lambda: srv.filter.Restore(pb.RestoreFilterRequest(hook="big3", rules=big),
                                               timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limits.verify_queue" in err.details()
    lat = []
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:                # other RPCs answer while it translates
        t0 = time.monotonic()
        srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT)
        lat.append(time.monotonic() - t0)
        time.sleep(0.01)
    running.join()
    queued.join()
    for name in ("big1", "big2"):                  # each stopped at its own 2 s deadline
        code, details = errors[name]
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED, (name, details)
        assert "limits.verify_seconds" in details
    assert len(lat) > 20 and max(lat) < 1.0, (len(lat), max(lat))
    # nothing half-made: no filter, no object left behind
    for name in ("big1", "big2"):
        e = rpc_error(lambda: srv.filter.Save(pb.SaveFilterRequest(hook=name), timeout=RPC_TIMEOUT))
        assert e.code() == grpc.StatusCode.NOT_FOUND
    assert not srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs
    # the verifier is free again: a small ruleset restores at once
    r = srv.filter.Restore(pb.RestoreFilterRequest(hook="small", rules=SMALL), timeout=RPC_TIMEOUT)
    assert r.rules == 1 and r.program_id
    srv.filter.Remove(pb.RemoveFilterRequest(hook="small"), timeout=RPC_TIMEOUT)


def test_client_deadline_bounds_a_restore(srv):
    t0 = time.monotonic()
    err = rpc_error(lambda: srv.filter.Restore(pb.RestoreFilterRequest(hook="dl", rules=ruleset(40_000)),
                                               timeout=0.8))
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the worker was stopped at the client's deadline, not at verify_seconds
    r = srv.filter.Restore(pb.RestoreFilterRequest(hook="dl", rules=SMALL), timeout=RPC_TIMEOUT)
    assert time.monotonic() - t0 < 2.0, time.monotonic() - t0   # verify_seconds would end later
    assert r.rules == 1
    srv.filter.Remove(pb.RemoveFilterRequest(hook="dl"), timeout=RPC_TIMEOUT)
