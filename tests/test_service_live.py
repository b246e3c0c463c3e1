"""The demo of issue 17 against the real `dataplane serve` process, AF_XDP
and AF_PACKET: netns a (10.0.0.1) -- veth -- [vA | dataplane | vB] -- veth
-- netns b (10.0.0.2), the sample firewall inline.

ping and a TCP exchange work across; the firewall's block list gets
10.0.0.1 over gRPC and ping from it fails while 10.0.0.3 still passes; the
counters of `hook list`, `iface list` and /metrics equal the packets sent;
SIGTERM, and kill -9 followed by a restart, leave no XDP program on any
interface (`ip -d link`, `bpftool net`)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import ROOT, run_cli
from netns_util import Wire, link_stats, sh, tcp_exchange, xdp_progs_on
from support.service import PORT_0, rpc_error, scrape, served, start_server, stop, wait_ready
from dataplane.service.protos import pb, rpc

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"


def _config(tmp_path, w: Wire, io: str, live: bool = True) -> str:
    hook = (f"  - name: wire\n    interfaces: [{w.vA}, {w.vB}]\n    mode: inline\n    io: {io}\n"
            "    queues: all\n    chain: [fw]\n") if live else "  - name: wire\n    chain: [fw]\n"
    text = (f"programs:\n  - object: {FW}\n    program: xdp_firewall\n    name: fw\n"
            f"hooks:\n{hook}")
    p = tmp_path / f"{'live' if live else 'plain'}_{io}.yaml"
    p.write_text(text)
    return str(p)


def _metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def _bpftool_net(ifnames) -> list:
    if not shutil.which("bpftool"):
        return []
    out = json.loads(sh("bpftool -j net show").stdout or "[]")
    progs = []
    for entry in out:
        for x in entry.get("xdp", []):
            if x.get("devname") in ifnames:
                progs.append(x)
    return progs


def _no_xdp_left(w: Wire) -> None:
    assert xdp_progs_on([w.vA, w.vB]) == {}, "ip -d link still shows an XDP program"
    assert _bpftool_net([w.vA, w.vB]) == [], "bpftool net still lists an XDP program"


def _sent(w: Wire) -> int:
    return link_stats(w.ns_a, "a0")["tx_packets"] + link_stats(w.ns_b, "b0")["tx_packets"]


@pytest.mark.parametrize("io", ["afxdp", "afpacket"])
def test_inline_firewall_demo(wire, tmp_path, io):
    before = _sent(wire)
    a_before = link_stats(wire.ns_a, "a0")["tx_packets"]
    with served("--config", _config(tmp_path, wire, io), *PORT_0) as srv:
        if io == "afxdp":
            assert set(xdp_progs_on([wire.vA, wire.vB])) == {wire.vA, wire.vB}
        r = wire.ping(wire.ns_a, wire.B_IP, count=3)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout + r.stderr
        sent, seen = tcp_exchange(wire.ns_b, wire.B_IP, wire.ns_a, 2 << 20)
        assert sent == seen
        # block 10.0.0.1 over gRPC: the LPM key {prefixlen 32, addr}
        maps = rpc.MapsStub(srv.channel)
        mid = next(m.id for m in maps.List(pb.ListMapsRequest(), timeout=30).maps if m.name == "src_block")
        maps.Update(pb.UpdateRequest(map_id=mid, key=struct.pack("<I", 32) + bytes([10, 0, 0, 1]),
                                     value=struct.pack("<I", 1)), timeout=30)
        r = wire.ping(wire.ns_a, wire.B_IP, count=3, src=wire.A_IP)
        assert r.returncode != 0 and "100% packet loss" in r.stdout, r.stdout
        r = wire.ping(wire.ns_a, wire.B_IP, count=3, src=wire.A_IP2)
        assert r.returncode == 0 and " 0% packet loss" in r.stdout, r.stdout
        time.sleep(0.5)                              # the last packets through the workers
        total = _sent(wire) - before
        # hook list (gRPC and the CLI) counts exactly the packets sent
        lst = srv.hooks.List(pb.ListHooksRequest(hook="wire"), timeout=30)
        counted = sum(lst.hooks[0].counters[0].packets.values())
        assert counted == total and lst.hooks[0].counters[0].packets["drop"] >= 3
        cli = json.loads(run_cli("-j", "--server", srv.grpc, "hook", "list", "wire").stdout)
        assert sum(map(int, cli["hooks"][0]["counters"][0]["packets"].values())) == total
        # /metrics: same families as replayed packets, plus the per-interface ones
        text = scrape(srv)
        assert _metric(text, "dataplane_hook_packets_total", hook="wire") == total
        assert _metric(text, "dataplane_iface_rx_packets_total", hook="wire") == total
        assert _metric(text, "dataplane_live_hook_up", hook="wire", io=io) == 1
        if io == "afxdp":
            assert _metric(text, "dataplane_xsk_rx_packets_total", hook="wire") == total
        # iface list: the pair with its queue and XDP mode
        il = json.loads(run_cli("-j", "--server", srv.grpc, "iface", "list", "--bound").stdout)
        names = {i["name"]: i for i in il["interfaces"]}
        assert set(names) == {wire.vA, wire.vB}
        a = names[wire.vA]
        assert a["hook"] == "wire" and a["io"] == io and a["rx_queues"] == 1
        assert int(a["queues"][0]["counters"]["rx_packets"]) == link_stats(wire.ns_a, "a0")["tx_packets"] - a_before
        if io == "afxdp":
            assert a["xdp_mode"] == "native" and a["xdp_prog_name"].startswith("dpxsk_")
        text_out = run_cli("--server", srv.grpc, "iface", "list", wire.vA).stdout
        assert f"hook wire ({io})" in text_out and "queue 0" in text_out
        # faults over gRPC: the service keeps running
        e = rpc_error(lambda: rpc.InterfacesStub(srv.channel).Bind(
            pb.BindInterfacesRequest(hook="other", interfaces=["nosuch1", "nosuch0"]), timeout=30))
        assert e.code().name == "NOT_FOUND" and "nosuch1" in e.details()
        e = rpc_error(lambda: rpc.InterfacesStub(srv.channel).Bind(
            pb.BindInterfacesRequest(hook="other", interfaces=[wire.vA, wire.vB]), timeout=30))
        assert e.code().name == "FAILED_PRECONDITION" and "already bound" in e.details()
        assert srv.svc.Info(pb.InfoRequest(), timeout=30).version
    # SIGTERM: no XDP program left behind
    _no_xdp_left(wire)


def test_bind_unbind_over_grpc(wire, tmp_path):
    with served("--config", _config(tmp_path, wire, "afxdp", live=False), *PORT_0) as srv:
        ifs = rpc.InterfacesStub(srv.channel)
        r = ifs.Bind(pb.BindInterfacesRequest(hook="wire", interfaces=[wire.vA, wire.vB], io="afxdp"), timeout=30)
        assert r.hook.state == "running" and r.hook.workers == 1 and dict(r.hook.xdp_modes) == {
            wire.vA: "native", wire.vB: "native"}
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
        out = run_cli("--server", srv.grpc, "iface", "unbind", "wire").stdout
        assert "stopped" in out
        _no_xdp_left(wire)
        assert wire.ping(wire.ns_a, wire.B_IP, count=1, wait=0.5).returncode != 0    # nothing bridges now
        out = run_cli("--server", srv.grpc, "iface", "bind", "wire", wire.vA, wire.vB, "--io", "afpacket").stdout
        assert "running" in out and "afpacket" in out
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
        e = rpc_error(lambda: ifs.Unbind(pb.UnbindInterfacesRequest(hook="nosuch"), timeout=30))
        assert e.code().name == "NOT_FOUND"


def test_kill9_then_restart_cleans_up(wire, tmp_path):
    cfg = _config(tmp_path, wire, "afxdp")
    proc, lines = start_server("--config", cfg, *PORT_0)
    try:
        wait_ready(proc, lines)
        assert set(xdp_progs_on([wire.vA, wire.vB])) == {wire.vA, wire.vB}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    finally:
        stop(proc)
    # netlink attachments outlive their process: the killed run left them
    stale = xdp_progs_on([wire.vA, wire.vB])
    assert set(stale) == {wire.vA, wire.vB} and f"dpxsk_{proc.pid}" in stale[wire.vA]
    # a restart (here without any live hook) removes what its predecessor left
    with served("--config", _config(tmp_path, wire, "afxdp", live=False), *PORT_0):
        _no_xdp_left(wire)
    # and a restart with the live hook attaches afresh and works
    with served("--config", cfg, *PORT_0):
        assert wire.ping(wire.ns_a, wire.B_IP, count=2).returncode == 0
    _no_xdp_left(wire)


def test_link_down_then_deleted(wire, tmp_path):
    """A link that goes down is reported (and traffic resumes when it comes
    back); one that is deleted fails the hook, not the service."""
    with served("--config", _config(tmp_path, wire, "afxdp"), *PORT_0) as srv:
        assert wire.ping(wire.ns_a, wire.B_IP, count=1).returncode == 0
        ifs = rpc.InterfacesStub(srv.channel)
        sh(f"ip link set {wire.vB} down")
        h = ifs.List(pb.ListInterfacesRequest(bound_only=True), timeout=30).hooks[0]
        assert h.state == "running" and list(h.links_down) == [wire.vB]
        assert _metric(scrape(srv), "dataplane_iface_up", hook="wire", interface=wire.vB) == 0
        assert wire.ping(wire.ns_a, wire.B_IP, count=1, wait=0.5).returncode != 0
        sh(f"ip link set {wire.vB} up")
        time.sleep(0.5)
        r = wire.ping(wire.ns_a, wire.B_IP, count=3)
        assert r.returncode == 0, r.stdout
        assert list(ifs.List(pb.ListInterfacesRequest(bound_only=True), timeout=30).hooks[0].links_down) == []
        sh(f"ip link del {wire.vA}")
        ifs = rpc.InterfacesStub(srv.channel)
        end = time.monotonic() + 10
        while time.monotonic() < end:
            h = ifs.List(pb.ListInterfacesRequest(bound_only=True), timeout=30).hooks[0]
            if h.state == "failed":
                break
            time.sleep(0.1)
        assert h.state == "failed" and h.error, h
        end = time.monotonic() + 5
        while xdp_progs_on([wire.vB]) and time.monotonic() < end:
            time.sleep(0.1)
        assert xdp_progs_on([wire.vB]) == {}
        assert srv.svc.Info(pb.InfoRequest(), timeout=30).version        # still serving
        text = scrape(srv)
        assert _metric(text, "dataplane_live_hook_up", hook="wire") == 0


def test_config_errors_name_the_line(tmp_path):
    from dataplane.service.config import ConfigError, parse_config
    with pytest.raises(ConfigError) as ei:
        parse_config("hooks:\n  - name: w\n    interfaces: [a]\n    io: afxdp\n")
    assert ":2:" in str(ei.value) and "takes 2 interfaces" in str(ei.value)
    with pytest.raises(ConfigError) as ei:
        parse_config("hooks:\n  - name: w\n    io: afxdp\n")
    assert ":3:" in str(ei.value) and "give `interfaces`" in str(ei.value)
    with pytest.raises(ConfigError) as ei:
        parse_config("hooks:\n  - name: w\n    interfaces: [a, b]\n    queues: [x]\n")
    assert "queues[0]" in str(ei.value)
    cfg = parse_config("hooks:\n  - name: w\n    interfaces: [a, b]\n    io: afpacket\n    queues: [0]\n"
                       "    cpus: [1]\n    force: true\n")
    live = cfg.hooks[0].live
    assert live.io == "afpacket" and live.queues == [0] and live.cpus == [1] and live.force
