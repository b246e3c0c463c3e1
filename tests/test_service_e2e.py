"""The real `dataplane serve` process, driven over gRPC and HTTP.

One server per module (starting it costs ~1-2 s); each test loads what it
needs and identifies its own objects by id, so tests do not depend on order.
The server binds port 0 and prints its bound addresses, so no port races.
"""
from __future__ import annotations

import os
import sys
import tempfile

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from conftest import ROOT, run_cli
from dataplane.service.errors import ERRNO_KEY, VERIFIER_LOG_KEY
from dataplane.service.protos import pb


sys.path.insert(0, str(ROOT / "tests"))
from support.service import PORT_0, RPC_TIMEOUT, gauge, rpc_error, scrape, served, serving  # noqa: E402

BAD_PROG = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	return data[0];     /* no bounds check against data_end: the verifier must refuse */
}
char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def server():
    with served(*PORT_0) as srv:
        yield srv


@pytest.fixture(scope="module")
def service_objs(objs, build_c):
    counter, bad, map_ops = objs["xdp_counter"], build_c(BAD_PROG, "bad"), objs["map_ops"]
    return {"counter": counter.read_bytes(), "counter_path": str(counter), "bad": bad.read_bytes(),
            "map_ops": map_ops.read_bytes()}


def load_counter(server, service_objs) -> pb.LoadResponse:
    return server.progs.Load(pb.LoadRequest(object=service_objs["counter"], program="xdp_count", name="counter"),
                             timeout=RPC_TIMEOUT)


# ------------------------------------------------------------------ health, reflection, info

def test_health_serving(server):
    for svc in ("", "dataplane.v1.Programs", "dataplane.v1.Maps"):
        r = server.health.Check(health_pb2.HealthCheckRequest(service=svc), timeout=RPC_TIMEOUT)
        assert r.status == health_pb2.HealthCheckResponse.SERVING, svc
    err = rpc_error(lambda: server.health.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_services(server):
    stub = reflection_pb2_grpc.ServerReflectionStub(server.channel)
    resp = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                          timeout=RPC_TIMEOUT))
    names = {s.name for s in resp.list_services_response.service}
    assert {"dataplane.v1.Programs", "dataplane.v1.Maps", "dataplane.v1.Hooks", "dataplane.v1.Replay",
            "dataplane.v1.Conntrack", "dataplane.v1.Service", "grpc.health.v1.Health"} <= names
    # every service of proto/dataplane/v1/*.proto is served (a .proto without its service/rpc module fails here)
    from dataplane.service.protos import SERVICE_NAMES
    assert set(SERVICE_NAMES) <= names


def test_reflection_client_resolves_methods(server):
    # what grpcurl does: fetch descriptors by symbol through the reflection service
    from google.protobuf.descriptor_pool import DescriptorPool
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
    pool = DescriptorPool(ProtoReflectionDescriptorDatabase(server.channel))
    hooks = pool.FindServiceByName("dataplane.v1.Hooks")
    assert {m.name for m in hooks.methods} == {"Attach", "Detach", "List", "Query", "Place", "Delete"}
    links = pool.FindServiceByName("dataplane.v1.Links")
    assert {m.name for m in links.methods} == {"Create", "Update", "Detach", "Get", "List"}
    watch = pool.FindServiceByName("dataplane.v1.Replay").methods_by_name["Watch"]
    assert watch.output_type.full_name == "dataplane.v1.ReplayStatus" and not watch.client_streaming
    attach = pool.FindMessageTypeByName("dataplane.v1.AttachRequest")
    assert attach.fields_by_name["expected_revision"].number == 8
    assert attach.fields_by_name["program_id"].number == 1     # old field numbers kept


def test_info(server):
    r = server.svc.Info(pb.InfoRequest(), timeout=RPC_TIMEOUT)
    assert r.version and r.uptime_seconds > 0
    assert r.grpc_address == server.grpc
    import os
    from dataplane.abi import kernel
    assert r.kernel_running == os.uname().release
    assert r.kernel_modelled == kernel.MODELLED and r.kernel_modelled[0].isdigit()


# ------------------------------------------------------------------ programs and maps

def test_load_list_get_and_map_ops(server, service_objs):
    r = load_counter(server, service_objs)
    assert [p.name for p in r.programs] == ["xdp_count"]
    prog = r.programs[0]
    assert prog.type == "xdp" and prog.insn_count > 10 and prog.verified
    assert [m.name for m in r.maps] == ["proto_count"]
    mid = r.maps[0].id
    assert list(prog.map_ids) == [mid]

    listed = server.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs
    assert prog.id in [p.id for p in listed]
    got = server.progs.Get(pb.GetProgramRequest(id=prog.id), timeout=RPC_TIMEOUT)
    assert (got.name, got.insn_count, got.run_cnt, got.tag) == ("xdp_count", prog.insn_count, 0, prog.tag)

    key6, key17 = (6).to_bytes(4, "little"), (17).to_bytes(4, "little")
    server.maps.Update(pb.UpdateRequest(map_id=mid, key=key6, value=(5).to_bytes(8, "little")), timeout=RPC_TIMEOUT)
    assert server.maps.Lookup(pb.LookupRequest(map_id=mid, key=key6), timeout=RPC_TIMEOUT).value == \
        (5).to_bytes(8, "little")
    # BPF_NOEXIST on an existing key: EEXIST; BPF_EXIST on a missing key: ENOENT (kernel semantics)
    e = rpc_error(lambda: server.maps.Update(pb.UpdateRequest(map_id=mid, key=key6, value=bytes(8),
                                                            flags=pb.UPDATE_FLAG_NOEXIST), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    e = rpc_error(lambda: server.maps.Update(pb.UpdateRequest(map_id=mid, key=key17, value=bytes(8),
                                                            flags=pb.UPDATE_FLAG_EXIST), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    e = rpc_error(lambda: server.maps.Lookup(pb.LookupRequest(map_id=mid, key=b"\1"), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT

    for k in range(7, 11):   # 5 entries in total
        server.maps.Update(pb.UpdateRequest(map_id=mid, key=k.to_bytes(4, "little"), value=bytes(8)),
                           timeout=RPC_TIMEOUT)
    batches = list(server.maps.Dump(pb.DumpRequest(map_id=mid, batch_size=2), timeout=RPC_TIMEOUT))
    assert [len(b.entries) for b in batches] == [2, 2, 1]
    assert batches[-1].next_key == b"" and batches[0].next_key == batches[0].entries[-1].key
    keys = sorted(int.from_bytes(e.key, "little") for b in batches for e in b.entries)
    assert keys == [6, 7, 8, 9, 10]
    # paging by hand: resume after the first batch, limit 2
    page = list(server.maps.Dump(pb.DumpRequest(map_id=mid, start_after=batches[0].next_key, limit=2),
                                 timeout=RPC_TIMEOUT))
    assert [e.key for b in page for e in b.entries] == [e.key for e in batches[1].entries]

    server.maps.Delete(pb.DeleteRequest(map_id=mid, key=key6), timeout=RPC_TIMEOUT)
    e = rpc_error(lambda: server.maps.Lookup(pb.LookupRequest(map_id=mid, key=key6), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    listed_maps = {m.id: m for m in server.maps.List(pb.ListMapsRequest(), timeout=RPC_TIMEOUT).maps}
    assert listed_maps[mid].entries == 4 and listed_maps[mid].max_entries == 256

    text = scrape(server)
    assert gauge(text, "dataplane_map_entries", map="proto_count", id=mid) == 4
    assert gauge(text, "dataplane_map_capacity_entries", map="proto_count", id=mid) == 256
    assert gauge(text, "dataplane_programs_loaded") >= 1
    assert 'dataplane_info{version="' in text and "process_cpu_seconds_total" in text

    server.progs.Unload(pb.UnloadRequest(id=prog.id), timeout=RPC_TIMEOUT)
    for call in (lambda: server.progs.Get(pb.GetProgramRequest(id=prog.id), timeout=RPC_TIMEOUT),
                 lambda: server.maps.Lookup(pb.LookupRequest(map_id=mid, key=key17), timeout=RPC_TIMEOUT)):
        assert rpc_error(call).code() == grpc.StatusCode.NOT_FOUND
    assert gauge(scrape(server), "dataplane_map_entries", map="proto_count", id=mid) is None


def test_metrics_count_programs(server, service_objs):
    before = len(server.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs)
    r = load_counter(server, service_objs)
    try:
        assert gauge(scrape(server), "dataplane_programs_loaded") == before + 1
    finally:
        server.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)
    assert gauge(scrape(server), "dataplane_programs_loaded") == before


def test_load_from_server_path(server, service_objs):
    r = server.progs.Load(pb.LoadRequest(path=service_objs["counter_path"]), timeout=RPC_TIMEOUT)
    assert r.programs[0].object_name == "xdp_counter"
    server.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)
    missing = os.path.join(tempfile.gettempdir(), "dp-nonexistent", "x.o")     # inside the allowed dirs
    e = rpc_error(lambda: server.progs.Load(pb.LoadRequest(path=missing), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    # outside them: refused before the server even looks (test_service_paths)
    e = rpc_error(lambda: server.progs.Load(pb.LoadRequest(path="/nonexistent/x.o"), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED
    e = rpc_error(lambda: server.progs.Load(pb.LoadRequest(object=service_objs["counter"], program="nope"),
                                          timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.NOT_FOUND and "xdp_count" in e.details()


def test_keyless_maps_do_not_break_listing_or_metrics(server, service_objs):
    # map_ops has hash, array, percpu_array, lru_hash and a queue (no keys to iterate)
    r = server.progs.Load(pb.LoadRequest(object=service_objs["map_ops"]), timeout=RPC_TIMEOUT)
    try:
        by_name = {m.name: m for m in r.maps}
        assert by_name["q"].type == "queue" and by_name["q"].entries == 0
        assert by_name["a"].entries == by_name["a"].max_entries      # arrays always hold max_entries
        text = scrape(server)
        assert gauge(text, "dataplane_map_capacity_entries", map="q", id=by_name["q"].id) == by_name["q"].max_entries
        e = rpc_error(lambda: list(server.maps.Dump(pb.DumpRequest(map_id=by_name["q"].id), timeout=RPC_TIMEOUT)))
        assert e.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNIMPLEMENTED)
        entries = [e for b in server.maps.Dump(pb.DumpRequest(map_id=by_name["a"].id), timeout=RPC_TIMEOUT)
                   for e in b.entries]
        assert [int.from_bytes(e.key, "little") for e in entries] == list(range(by_name["a"].max_entries))
    finally:
        server.progs.Unload(pb.UnloadRequest(id=r.programs[0].id), timeout=RPC_TIMEOUT)


# ------------------------------------------------------------------ errors keep the server serving

def _counts(server):
    return (len(server.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs),
            len(server.maps.List(pb.ListMapsRequest(), timeout=RPC_TIMEOUT).maps))


def test_garbage_object_is_invalid_argument(server):
    before = _counts(server)
    for junk in (b"garbage", b"\x7fELF" + bytes(60), b""):
        e = rpc_error(lambda: server.progs.Load(pb.LoadRequest(object=junk), timeout=RPC_TIMEOUT))
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, junk
        assert dict(e.trailing_metadata())[ERRNO_KEY] == "22"
    e = rpc_error(lambda: server.progs.Load(pb.LoadRequest(), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _counts(server) == before
    assert serving(server)


def test_unknown_ids_are_not_found(server):
    big = 999_999
    calls = [
        lambda: server.progs.Get(pb.GetProgramRequest(id=big), timeout=RPC_TIMEOUT),
        lambda: server.progs.Unload(pb.UnloadRequest(id=big), timeout=RPC_TIMEOUT),
        lambda: server.maps.Lookup(pb.LookupRequest(map_id=big, key=b"k"), timeout=RPC_TIMEOUT),
        lambda: server.maps.Update(pb.UpdateRequest(map_id=big, key=b"k", value=b"v"), timeout=RPC_TIMEOUT),
        lambda: server.maps.Delete(pb.DeleteRequest(map_id=big, key=b"k"), timeout=RPC_TIMEOUT),
        lambda: list(server.maps.Dump(pb.DumpRequest(map_id=big), timeout=RPC_TIMEOUT)),
        lambda: server.hooks.Detach(pb.DetachRequest(link_id=big), timeout=RPC_TIMEOUT),
        lambda: server.hooks.Attach(pb.AttachRequest(program_id=big, interface="eth0"), timeout=RPC_TIMEOUT),
    ]
    for i, call in enumerate(calls):
        assert rpc_error(call).code() == grpc.StatusCode.NOT_FOUND, f"call {i}"


def test_verifier_rejection_carries_log(server, service_objs):
    before = _counts(server)
    e = rpc_error(lambda: server.progs.Load(pb.LoadRequest(object=service_objs["bad"]), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    md = dict(e.trailing_metadata())
    assert md[ERRNO_KEY] == "13"     # EACCES, as bpf(BPF_PROG_LOAD) reports a verifier rejection
    log = md[VERIFIER_LOG_KEY].decode()
    # the kernel's wording for this program: "invalid access to packet, off=0 size=1, ..."
    # then "R1 offset is outside of the packet" (the summary line)
    assert "outside of the packet" in e.details()
    summary = e.details().rsplit(": ", 1)[-1]
    assert "invalid access to packet" in log and summary in log and "xdp_unchecked" in e.details()
    assert _counts(server) == before, "a rejected load must leave nothing behind (maps included)"


def test_attach_detach_and_unload_busy(server, service_objs):
    r = load_counter(server, service_objs)
    pid = r.programs[0].id
    # the old request shape (interface, no hook) still works: the hook is named after the interface
    resp = server.hooks.Attach(pb.AttachRequest(program_id=pid, interface="veth0"), timeout=RPC_TIMEOUT)
    a = resp.attachment
    assert (a.program_id, a.interface, a.hook, a.state, a.priority) == (pid, "veth0", "veth0", "attached", 0)
    assert resp.revision == 2      # a new hook starts at revision 1 (bpf_mprog); the attach made it 2
    e = rpc_error(lambda: server.hooks.Attach(pb.AttachRequest(program_id=pid, interface="veth0"), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.ALREADY_EXISTS
    e = rpc_error(lambda: server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.FAILED_PRECONDITION      # EBUSY: still attached
    # Attach is BPF_PROG_ATTACH: the entry has no link (link_id 0); detach names hook + program
    listed = server.hooks.List(pb.ListHooksRequest(), timeout=RPC_TIMEOUT).attachments
    assert a.link_id == 0 and (pid, "veth0") in [(x.program_id, x.hook) for x in listed]
    server.hooks.Detach(pb.DetachRequest(hook="veth0", program_id=pid), timeout=RPC_TIMEOUT)
    e = rpc_error(lambda: server.hooks.Detach(pb.DetachRequest(hook="veth0", program_id=pid), timeout=RPC_TIMEOUT))
    assert e.code() == grpc.StatusCode.NOT_FOUND
    server.progs.Unload(pb.UnloadRequest(id=pid), timeout=RPC_TIMEOUT)


# ------------------------------------------------------------------ the CLI client

def test_cli_remote(server, service_objs, tmp_path):
    obj = tmp_path / "counter.o"
    obj.write_bytes(service_objs["counter"])
    out = run_cli("remote", "--server", server.grpc, "prog", "load", str(obj)).stdout
    pid = int(out.split(":", 1)[0])
    assert "xdp_count" in out
    mid = server.progs.Get(pb.GetProgramRequest(id=pid), timeout=RPC_TIMEOUT).map_ids[0]
    run_cli("remote", "--server", server.grpc, "map", "update", str(mid), "11000000", "2a 00 00 00 00 00 00 00")
    out = run_cli("remote", "--server", server.grpc, "map", "dump", str(mid)).stdout
    assert "key: 11 00 00 00  value: 2a 00 00 00 00 00 00 00" in out and "Found 1 element" in out
    assert str(pid) in run_cli("remote", "--server", server.grpc, "prog", "list").stdout
    bad = run_cli("remote", "--server", server.grpc, "prog", "show", "999999", check=False)
    assert bad.returncode == 2 and "NOT_FOUND" in bad.stderr
    run_cli("remote", "--server", server.grpc, "prog", "unload", str(pid))
