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
    cfg.write_text("limits: {name_bytes: 128, objects: 3, replays: 1}\n")
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


def _replay_done(srv, hook: str) -> None:
    st = srv.replay.Start(pb.StartReplayRequest(hook=hook, pcap=str(TRACE)), timeout=RPC_TIMEOUT)
    for s in srv.replay.Watch(pb.WatchReplayRequest(id=st.id), timeout=RPC_TIMEOUT):
        if s.final:
            assert s.state == "done", s.error
            return


def test_prog_array_slot_set_over_grpc_is_linked(srv, objs):
    # issue 14 bug: a PROG_ARRAY slot set with Maps.Update (value = program id, as the
    # kernel's fd) was stored and shown by Lookup, but tail calls through it fell through
    import struct
    r = srv.progs.Load(pb.LoadRequest(object=objs["xdp_tailcall"].read_bytes(), name="tc"), timeout=RPC_TIMEOUT)
    progs = {p.name: p.id for p in r.programs}
    maps = {m.name: m for m in r.maps}
    jt, hits = maps["jmp_table"].id, maps["hits"].id
    hook = f"tc{id(srv) & 0xffff}"
    key = struct.pack("<I", 1)

    def stage2_hits() -> int:
        v = srv.maps.Lookup(pb.LookupRequest(map_id=hits, key=key), timeout=RPC_TIMEOUT).value
        return struct.unpack("<Q", v)[0]
    srv.hooks.Attach(pb.AttachRequest(program_id=progs["xdp_entry"], hook=hook), timeout=RPC_TIMEOUT)
    try:
        srv.maps.Delete(pb.DeleteRequest(map_id=jt, key=key), timeout=RPC_TIMEOUT)
        _replay_done(srv, hook)
        assert stage2_hits() == 0                    # empty slot: every tail call falls through
        srv.maps.Update(pb.UpdateRequest(map_id=jt, key=key, value=struct.pack("<I", progs["xdp_stage2"])),
                        timeout=RPC_TIMEOUT)
        got = srv.maps.Lookup(pb.LookupRequest(map_id=jt, key=key), timeout=RPC_TIMEOUT).value
        assert struct.unpack("<I", got)[0] == progs["xdp_stage2"]
        _replay_done(srv, hook)
        assert stage2_hits() > 0                     # the slot set over gRPC is jumped to
        # a program id that does not exist is refused, not stored
        err = rpc_error(lambda: srv.maps.Update(pb.UpdateRequest(map_id=jt, key=struct.pack("<I", 2),
                                                                 value=struct.pack("<I", 999999)),
                                                timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.NOT_FOUND and "999999" in err.details()
    finally:
        srv.hooks.Detach(pb.DetachRequest(program_id=progs["xdp_entry"], hook=hook), timeout=RPC_TIMEOUT)
        srv.progs.Unload(pb.UnloadRequest(id=progs["xdp_entry"]), timeout=RPC_TIMEOUT)


BIG_MAP_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1 << 20);
    __type(key, __u64);
    __type(value, __u64);
} big SEC(".maps");
SEC("xdp")
int bigmap(struct xdp_md *ctx)
{
    __u64 k = 1, *v = bpf_map_lookup_elem(&big, &k);
    return v ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_map_memory_limits(tmp_path, build_c):
    cfg = tmp_path / "maps.yaml"
    cfg.write_text("limits: {map_bytes: 1MiB, map_memory_bytes: 4MiB, maps: 8}\n")
    obj = build_c(BIG_MAP_C, "bigmap").read_bytes()
    with served(*PORT_0, "--config", str(cfg)) as s:
        # one map over limits.map_bytes: refused before anything is created
        err = rpc_error(lambda: s.progs.Load(pb.LoadRequest(object=obj), timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err.details()
        assert "'big'" in err.details() and "limits.map_bytes" in err.details() and "1 MiB" in err.details()
        assert not s.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs
        # ~1 MB maps: four fit in 4 MiB, the fifth does not
        req = pb.CreateMapRequest(type_id=2, key_size=4, value_size=4096, max_entries=250, name="chunk")
        made = [s.maps.Create(req, timeout=RPC_TIMEOUT).id for _ in range(4)]
        err = rpc_error(lambda: s.maps.Create(req, timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limits.map_memory_bytes" in err.details()
        # freeing one makes room again: the server kept serving and counts what it holds
        s.maps.Free(pb.FreeMapRequest(map_id=made[0]), timeout=RPC_TIMEOUT)
        s.maps.Create(req, timeout=RPC_TIMEOUT)
        # limits.maps counts maps
        small = pb.CreateMapRequest(type_id=2, key_size=4, value_size=4, max_entries=1, name="s")
        for _ in range(4):
            s.maps.Create(small, timeout=RPC_TIMEOUT)
        err = rpc_error(lambda: s.maps.Create(small, timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limits.maps" in err.details()


def test_running_replays_limit(srv):
    r = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="rl"), timeout=RPC_TIMEOUT)
    pid = r.programs[0].id
    srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook="rlimit"), timeout=RPC_TIMEOUT)
    try:
        first = srv.replay.Start(pb.StartReplayRequest(hook="rlimit", pcap=str(TRACE), loop=-1), timeout=RPC_TIMEOUT)
        try:
            err = rpc_error(lambda: srv.replay.Start(pb.StartReplayRequest(hook="rlimit", pcap=str(TRACE), loop=-1),
                                                     timeout=RPC_TIMEOUT))
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limits.replays" in err.details()
        finally:
            srv.replay.Stop(pb.StopReplayRequest(id=first.id), timeout=RPC_TIMEOUT)
        # the slot is free again
        again = srv.replay.Start(pb.StartReplayRequest(hook="rlimit", pcap=str(TRACE)), timeout=RPC_TIMEOUT)
        srv.replay.Stop(pb.StopReplayRequest(id=again.id), timeout=RPC_TIMEOUT)
    finally:
        srv.hooks.Detach(pb.DetachRequest(program_id=pid, hook="rlimit"), timeout=RPC_TIMEOUT)
        srv.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)
