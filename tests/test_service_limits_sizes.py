"""The size limits of what a client sends (issue 14, part 3), against a real
`dataplane serve`: limits.object_bytes (one ELF object, given inline or by a
server path) and limits.message_bytes (any gRPC message). Each refusal is
RESOURCE_EXHAUSTED naming the limit, and the server keeps serving: health
SERVING and a load of normal size right after.
"""
from __future__ import annotations

import sys

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served, serving  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
OBJECT_BYTES = 256 * 1024
MESSAGE_BYTES = 1024 * 1024


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("sizes")
    cfg = d / "sizes.yaml"
    cfg.write_text(f"limits: {{object_bytes: {OBJECT_BYTES}, message_bytes: {MESSAGE_BYTES}}}\n")
    with served(*PORT_0, "--config", str(cfg)) as s:
        yield s


def _still_serving(srv):
    assert serving(srv)
    r = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="after"), timeout=RPC_TIMEOUT)
    srv.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)


def test_object_over_object_bytes_inline(srv):
    big = FW.read_bytes().ljust(OBJECT_BYTES + 1, b"\0")       # under message_bytes, over object_bytes
    err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=big, name="big"), timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "limits.object_bytes" in err.details() and str(OBJECT_BYTES) in err.details(), err.details()
    _still_serving(srv)


def test_object_over_object_bytes_by_path(srv, tmp_path):
    path = tmp_path / "big.o"
    path.write_bytes(FW.read_bytes().ljust(4 * OBJECT_BYTES, b"\0"))
    err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(path=str(path), name="bigpath"), timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert str(OBJECT_BYTES) in err.details() and len(err.details()) < 400, err.details()
    _still_serving(srv)


def test_message_over_message_bytes(srv):
    huge = b"\0" * (MESSAGE_BYTES + 4096)
    err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=huge, name="huge"), timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    # a map update too: every method has the one limit
    err = rpc_error(lambda: srv.maps.Update(pb.UpdateRequest(map_id=1, key=b"\0" * 4, value=huge),
                                            timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    _still_serving(srv)
