"""The Filter gRPC service and the `filters:` config section on a real
`dataplane serve`: a ruleset restored from the config runs in the hook a
replay drives (the fast path), Save/List read the program's counters,
Restore swaps in a new program atomically (a bad ruleset is
INVALID_ARGUMENT naming line and token, and the old one keeps running),
Log streams LOG events, and the client verbs (`--server ADDR iptables ...`)
print the same text."""
from __future__ import annotations

import time

import grpc
import pytest
from scapy.all import IP, TCP, UDP, Ether, wrpcap

from conftest import run_cli
from dataplane.service.protos import pb, rpc
from support.service import PORT_0, RPC_TIMEOUT, served

RULES = """*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j LOG --log-prefix "ssh: "
-A INPUT -p tcp -m multiport --dports 22,80 -j ACCEPT
-A INPUT -m set --match-set ok src -j ACCEPT
COMMIT
"""
SETS = "create ok hash:ip family inet hashsize 1024 maxelem 65536\nadd ok 192.0.2.50\n"


def _pcap(path):
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    pk = [e / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=22),
          e / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=80),
          e / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=81),
          e / IP(src="192.0.2.50", dst="192.0.2.9") / UDP(dport=53)]
    wrpcap(str(path), pk)


@pytest.fixture
def server(tmp_path):
    (tmp_path / "fw.rules").write_text(RULES)
    (tmp_path / "fw.sets").write_text(SETS)
    _pcap(tmp_path / "t.pcap")
    (tmp_path / "cfg.yaml").write_text(f"""
filters:
  - hook: edge
    rules: fw.rules
    ipset: fw.sets
replays:
  - hook: edge
    pcap: t.pcap
    loop: 5
""")
    with served("--config", str(tmp_path / "cfg.yaml"), *PORT_0) as srv:
        srv.filter = rpc.FilterStub(srv.channel)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reps = srv.replay.List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays
            if reps and reps[0].state != "running":
                break
            time.sleep(0.1)
        assert reps and reps[0].state == "done", reps
        yield srv


def test_filter_counts_what_the_replay_ran(server):
    s = server.filter.Save(pb.SaveFilterRequest(hook="edge", counters=True), timeout=RPC_TIMEOUT).text
    body = [l for l in s.splitlines() if not l.startswith("#")]
    assert body[1] == ":INPUT DROP [5:200]"                     # the dport 81 packet, 5 passes
    assert '[5:200] -A INPUT -p tcp -m tcp --dport 22 -j LOG --log-prefix "ssh: "' in body
    assert "[10:400] -A INPUT -p tcp -m multiport --dports 22,80 -j ACCEPT" in body
    assert "[5:140] -A INPUT -m set --match-set ok src -j ACCEPT" in body
    lst = server.filter.List(pb.ListFilterRequest(hook="edge", chain="INPUT", exact=True), timeout=RPC_TIMEOUT)
    assert lst.text.splitlines()[0] == "Chain INPUT (policy DROP 5 packets, 200 bytes)"
    assert [(c.index, c.packets) for c in lst.counters][:3] == [(0, 5), (1, 10), (2, 5)]
    assert lst.counters[3].rule == "policy DROP" and lst.counters[3].packets == 5     # INPUT policy
    ev = list(server.filter.Log(pb.FilterLogRequest(hook="edge"), timeout=RPC_TIMEOUT))
    assert len(ev) == 5 and ev[0].prefix == "ssh: " and ev[0].rule_index == 0
    assert ev[0].line.startswith("ssh: IN=") and "SRC=192.0.2.1 DST=192.0.2.9 LEN=40" in ev[0].line
    assert "PROTO=TCP SPT=20 DPT=22" in ev[0].line and " SYN " in ev[0].line
    progs = {p.name: p.id for p in server.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs}
    assert "iptables_filter" in progs


def test_restore_swaps_and_bad_rules_change_nothing(server):
    before = server.filter.Save(pb.SaveFilterRequest(hook="edge", counters=True), timeout=RPC_TIMEOUT).text
    with pytest.raises(grpc.RpcError) as ei:
        server.filter.Restore(pb.RestoreFilterRequest(hook="edge", rules=RULES.replace("-j ACCEPT\n-A", "-j NOPE\n-A")),
                              timeout=RPC_TIMEOUT)
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rules:6:" in ei.value.details() and "NOPE" in ei.value.details()
    assert server.filter.Save(pb.SaveFilterRequest(hook="edge", counters=True), timeout=RPC_TIMEOUT).text == before
    new = RULES.replace(":INPUT DROP [0:0]", ":INPUT ACCEPT [3:30]").replace("-m set --match-set ok src ", "")
    r = server.filter.Restore(pb.RestoreFilterRequest(hook="edge", rules=new, counters=True), timeout=RPC_TIMEOUT)
    assert r.rules == 3 and r.chain == "INPUT" and r.instructions > 0
    chain = server.hooks.List(pb.ListHooksRequest(), timeout=RPC_TIMEOUT)
    ids = [p.id for p in server.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs
           if p.name == "iptables_filter"]
    assert ids == [r.program_id]                                  # the old object is unloaded
    assert chain is not None
    s = server.filter.Save(pb.SaveFilterRequest(hook="edge", counters=True), timeout=RPC_TIMEOUT).text
    assert ":INPUT ACCEPT [3:30]" in s and "[0:0] -A INPUT -p tcp -m multiport" in s
    out = run_cli("--server", server.grpc, "iptables-save", "--hook", "edge", "-c").stdout
    body = lambda t: [line for line in t.splitlines() if not line.startswith("#")]   # noqa: E731 (dated)
    assert body(out) == body(s) and out.startswith("# Generated by")
    out = run_cli("--server", server.grpc, "iptables", "-L", "-v", "-n", "-x", "--hook", "edge").stdout
    assert out.startswith("Chain INPUT (policy ACCEPT 3 packets, 30 bytes)")
    out = run_cli("--server", server.grpc, "iptables-restore", "--hook", "edge", input=RULES.replace(
        "-m set --match-set ok src ", "-s 192.0.2.50 ")).stdout
    assert "3 rules" in out and "chain INPUT" in out
    server.filter.Remove(pb.RemoveFilterRequest(hook="edge"), timeout=RPC_TIMEOUT)
    with pytest.raises(grpc.RpcError) as ei:
        server.filter.Save(pb.SaveFilterRequest(hook="edge"), timeout=RPC_TIMEOUT)
    assert ei.value.code() == grpc.StatusCode.NOT_FOUND


def test_config_errors_name_the_filter(tmp_path):
    from dataplane.errors import DataplaneError
    from dataplane.service.app import App
    from dataplane.service.config import parse_config
    (tmp_path / "bad.rules").write_text(RULES)                     # set 'ok' not given
    cfg = parse_config("filters:\n  - hook: h\n    rules: bad.rules\n", str(tmp_path / "c.yaml"))
    with pytest.raises(DataplaneError) as ei:
        App.from_config(cfg)
    assert "c.yaml:2: filter h:" in str(ei.value) and "set 'ok' does not exist" in str(ei.value)
    with pytest.raises(DataplaneError) as ei:
        parse_config("filters:\n  - hook: h\n    rules: x\n    chain: OUTPUT\n", str(tmp_path / "c.yaml"))
    assert "c.yaml:4:" in str(ei.value) and "INPUT or FORWARD" in str(ei.value)
