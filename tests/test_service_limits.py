"""Resource limits of the service (issue 14, part 3), against a real `dataplane serve`.

Found by the hostile-input probe: 20 replays with 1 MiB names made /metrics
105 MB and Replay.List 21 MB; error messages echoed client strings of any
size.  Every string field of a request is now at most limits.name_bytes
(documents like iptables rules excepted), refused with INVALID_ARGUMENT
naming the field and the limit, before any handler sees it.
"""
from __future__ import annotations

import sys

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
TRACE = ROOT / "dataplane" / "data" / "sample_trace.pcap"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("limits")
    cfg = d / "limits.yaml"
    cfg.write_text("limits: {name_bytes: 128, objects: 3}\n")
    with served(*PORT_0, "--config", str(cfg)) as s:
        yield s


def test_long_names_are_refused_without_echo(srv):
    big = "N" * (1 << 20)
    calls = {
        "LoadRequest.name": lambda: srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name=big),
                                                   timeout=RPC_TIMEOUT),
        "LoadRequest.path": lambda: srv.progs.Load(pb.LoadRequest(path=big), timeout=RPC_TIMEOUT),
        "AttachRequest.hook": lambda: srv.hooks.Attach(pb.AttachRequest(program_id=1, hook=big),
                                                       timeout=RPC_TIMEOUT),
        "StartReplayRequest.name": lambda: srv.replay.Start(pb.StartReplayRequest(pcap=str(TRACE), name=big),
                                                            timeout=RPC_TIMEOUT),
    }
    for field, call in calls.items():
        err = rpc_error(call)
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, err.details())
        assert field in err.details() and "limits.name_bytes" in err.details() and "128" in err.details()
        assert len(err.details()) < 200 and "NNNN" not in err.details()
    # a name at the limit is fine
    r = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="n" * 128), timeout=RPC_TIMEOUT)
    assert r.programs
    srv.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)


def test_object_count_limit(srv):
    ids = []
    try:
        for i in range(3):
            ids.append(srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name=f"o{i}"),
                                      timeout=RPC_TIMEOUT).programs[0].id)
        err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="o3"),
                                               timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
        assert "limits.objects" in err.details()
    finally:
        for pid in ids:
            srv.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
    # after unloading, loads work again: the server kept serving
    r = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="again"), timeout=RPC_TIMEOUT)
    srv.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)
