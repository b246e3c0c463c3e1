"""The service side of issue 11's compatibility work, over gRPC against a
real `dataplane serve`: Programs.Load loads what is asked for (a sibling
dataplane cannot run is listed as skipped with the reason), forces a type
for legacy section names, and map-in-map is filled over the Maps RPC
(Maps.Create makes an inner map from the outer map's template, Update
stores it by id, the inner map is filled by its own id); a replay through
the load balancer then gives the kernel's verdicts and the inner maps the
kernel's contents.
"""
from __future__ import annotations

import errno
import struct
import sys

import grpc
import pytest

from conftest import ROOT
from dataplane.service.errors import ERRNO_KEY
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support import diff as D  # noqa: E402
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served  # noqa: E402
from test_autoload_sections import LEGACY, MIXED  # noqa: E402
from test_service_flow import VERDICT, watch, write_pcap  # noqa: E402

MIM = ROOT / "tests" / "progs" / "xdp_mim.c"
VIP = "10.0.0.2"
BACKENDS = ["10.10.0.1", "10.10.0.2", "10.10.0.3", "10.10.0.4"]


@pytest.fixture(scope="module")
def server():
    with served(*PORT_0) as srv:
        yield srv


def _errno(err) -> int:
    return int(dict(err.trailing_metadata() or ()).get(ERRNO_KEY, 0))


def test_load_one_program_names_the_skipped_siblings(server, build_c):
    obj = build_c(MIXED, "mixed").read_bytes()
    r = server.progs.Load(pb.LoadRequest(object=obj, program="xdp_ok", name="mixed1"), timeout=RPC_TIMEOUT)
    assert [p.name for p in r.programs] == ["xdp_ok"]
    skipped = {s.name: s.reason for s in r.skipped}
    assert set(skipped) == {"tc_vlan", "xdp_tail", "xdp_pid", "xdp_entry"}
    assert "bpf_skb_vlan_push#18 is not implemented by dataplane" in skipped["tc_vlan"]
    err = rpc_error(lambda: server.progs.Load(pb.LoadRequest(object=obj, name="mixed2"), timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "tc_vlan" in err.details()
    assert "bpf_skb_vlan_push" in err.details()


def test_load_legacy_section_with_type(server, build_c):
    obj = build_c(LEGACY, "legacy").read_bytes()
    err = rpc_error(lambda: server.progs.Load(pb.LoadRequest(object=obj, program="xdp_legacy", name="leg1"),
                                              timeout=RPC_TIMEOUT))
    assert "section 'xdp_foo' has no known program type; pass --type xdp" in err.details()
    r = server.progs.Load(pb.LoadRequest(object=obj, program="xdp_legacy", name="leg2", type="xdp"),
                          timeout=RPC_TIMEOUT)
    assert [(p.name, p.type) for p in r.programs] == [("xdp_legacy", "xdp")]


def test_map_in_map_over_rpc_matches_kernel(server, build_c, tmp_path, root_required):
    from dataplane.io.kload import kernel_prog_run
    obj = build_c(MIM)
    r = server.progs.Load(pb.LoadRequest(object=obj.read_bytes(), program="xdp_lb", name="mim"), timeout=RPC_TIMEOUT)
    pid, ids = r.programs[0].id, {m.name: m.id for m in r.maps}
    M = server.maps
    u32 = lambda v: struct.pack("<I", v)   # noqa: E731

    def new_inner(outer: str) -> int:
        m = M.Create(pb.CreateMapRequest(inner_of=ids[outer]), timeout=RPC_TIMEOUT)
        return m.id

    # CPU 0's flow cache, the per-CPU counters and the VIP's backends: inner maps made and stored over gRPC
    lru, pcpu, reals = new_inner("lru_mapping"), new_inner("lru_pcpu"), new_inner("vip_reals")
    M.Update(pb.UpdateRequest(map_id=ids["lru_mapping"], key=u32(0), value=u32(lru)), timeout=RPC_TIMEOUT)
    M.Update(pb.UpdateRequest(map_id=ids["lru_pcpu"], key=u32(0), value=u32(pcpu)), timeout=RPC_TIMEOUT)
    M.Update(pb.UpdateRequest(map_id=ids["vip_reals"], key=D.ip4(VIP), value=u32(reals)), timeout=RPC_TIMEOUT)
    for i, b in enumerate(BACKENDS):
        M.Update(pb.UpdateRequest(map_id=reals, key=u32(i), value=D.ip4(b)), timeout=RPC_TIMEOUT)
    assert M.Lookup(pb.LookupRequest(map_id=ids["lru_mapping"], key=u32(0)), timeout=RPC_TIMEOUT).value == u32(lru)
    # the kernel's errors: an id that names no map (EBADF: an fd that is not open), an inner map of the wrong shape
    err = rpc_error(lambda: M.Update(pb.UpdateRequest(map_id=ids["lru_mapping"], key=u32(1), value=u32(1 << 30)),
                                     timeout=RPC_TIMEOUT))
    assert _errno(err) == errno.EBADF
    err = rpc_error(lambda: M.Update(pb.UpdateRequest(map_id=ids["lru_mapping"], key=u32(1), value=u32(reals)),
                                     timeout=RPC_TIMEOUT))
    assert _errno(err) == errno.EINVAL
    err = rpc_error(lambda: M.Free(pb.FreeMapRequest(map_id=ids["fallback_cache"]), timeout=RPC_TIMEOUT))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION

    frames = [D.ipv4(p, s, VIP, sp, 80, 100) for s in ("10.1.2.3", "8.8.8.8", "192.168.1.5")
              for sp, p in ((1111, "tcp"), (2222, "udp"))] * 2 + [D.ipv4("udp", "10.1.2.3", "10.9.9.9")]
    hook = "mim-rpc"
    server.hooks.Attach(pb.AttachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    st = server.replay.Start(pb.StartReplayRequest(hook=hook, pcap=write_pcap(tmp_path / "in.pcap", frames),
                                                   name="mim"), timeout=RPC_TIMEOUT)
    final = watch(server, st.id)[-1]
    assert final.state == "done", final.error

    ups = [("lru_mapping", "00000000", "new"), ("lru_pcpu", "00000000", "new"), ("vip_reals", D.ip4(VIP).hex(), "new")]
    ups += [(f"vip_reals[{D.ip4(VIP).hex()}]", u32(i).hex(), D.ip4(b).hex()) for i, b in enumerate(BACKENDS)]
    kernel = kernel_prog_run(obj, "xdp_lb", frames, ups, all_programs=False)
    kv = [VERDICT[x["retval"]] for x in kernel["runs"]]
    assert dict(final.verdicts) == {v: kv.count(v) for v in set(kv)}
    for name, mid in (("lru_mapping[00000000]", lru), ("lru_pcpu[00000000]", pcpu),
                      (f"vip_reals[{D.ip4(VIP).hex()}]", reals)):
        got = [{"key": e.key.hex(), "value": e.value.hex()}
               for b in M.Dump(pb.DumpRequest(map_id=mid), timeout=RPC_TIMEOUT) for e in b.entries]
        assert sorted(got, key=lambda e: e["key"]) == kernel["maps"][name], name
    server.hooks.Detach(pb.DetachRequest(program_id=pid, hook=hook), timeout=RPC_TIMEOUT)
    M.Free(pb.FreeMapRequest(map_id=lru), timeout=RPC_TIMEOUT)    # the outer map keeps it alive for readers
    assert all(m.id != lru for m in M.List(pb.ListMapsRequest(), timeout=RPC_TIMEOUT).maps)


def test_config_type_and_inner_map_fills(tmp_path, build_c):
    """`type:` in a program entry, and map-in-map fills in the config: value
    "new" (an inner map from the template) and inner maps named OUTER[KEYHEX],
    which are then listed like the object's own maps."""
    from dataplane.service.app import App
    from dataplane.service.config import ConfigError, load_config
    leg, mim = build_c(LEGACY, "legacy"), build_c(MIM)
    vip = D.ip4(VIP).hex()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"""
programs:
  - object: {leg}
    program: xdp_legacy
    type: xdp
    name: leg
  - object: {mim}
    program: xdp_lb
    name: mim
    maps:
      lru_mapping:
        - {{key: "00000000", value: new}}
      vip_reals:
        - {{key: "{vip}", value: new}}
      "vip_reals[{vip}]":
        - {{key: "00000000", value: "0a0a0001"}}
      proto_stats:
        - {{key: "01000000", value: "name:tcp_stats"}}
""")
    app = App.from_config(load_config(str(cfg)))
    objs = {o.name: o for o in app.reg.objects.values()}
    assert objs["leg"].programs["xdp_legacy"].spec.prog_type == 6
    inner = objs["mim"].maps[f"vip_reals[{vip}]"]
    assert app.reg.lookup(inner.id, bytes(4)) == bytes.fromhex("0a0a0001")
    outer = objs["mim"].maps["vip_reals"]
    assert app.reg.lookup(outer.id, bytes.fromhex(vip)) == struct.pack("<I", inner.id)
    assert "lru_mapping[00000000]" in objs["mim"].maps
    stats = objs["mim"].maps["proto_stats"]
    assert app.reg.lookup(stats.id, struct.pack("<I", 1)) == struct.pack("<I", objs["mim"].maps["tcp_stats"].id)
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"programs:\n  - object: {leg}\n    type: bogus\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    assert "unknown program type 'bogus'" in str(e.value) and "bad.yaml:3:" in str(e.value)


def test_client_verbs(server, build_c):
    from conftest import run_cli
    leg = build_c(LEGACY, "legacy")
    p = run_cli("--server", server.grpc, "prog", "load", str(leg), "--program", "xdp_legacy", "--type", "xdp",
                "--name", "leg3")
    assert "xdp_legacy" in p.stdout and "skipped xdp_cpu_legacy: not requested" in p.stdout
    mim = build_c(MIM)
    r = server.progs.Load(pb.LoadRequest(object=mim.read_bytes(), program="xdp_lb", name="mim2"), timeout=RPC_TIMEOUT)
    outer = {m.name: m.id for m in r.maps}["vip_reals"]
    made = run_cli("--server", server.grpc, "-j", "map", "create", "--inner-of", str(outer))
    import json
    info = json.loads(made.stdout)
    assert info["type"] == "array" and info["max_entries"] == 4 and info["value_size"] == 4
    run_cli("--server", server.grpc, "map", "update", str(outer), "0a000009", struct.pack("<I", info["id"]).hex())
    got = run_cli("--server", server.grpc, "map", "lookup", str(outer), "0a000009")
    assert struct.pack("<I", info["id"]).hex(" ") in got.stdout
    lpm = run_cli("--server", server.grpc, "-j", "map", "create", "hash", "4", "8", "16", "--name", "mine")
    assert json.loads(lpm.stdout)["type"] == "hash"
    run_cli("--server", server.grpc, "map", "free", str(json.loads(lpm.stdout)["id"]))
