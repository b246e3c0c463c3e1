"""Config reload of an iptables filter on a running `dataplane serve`: the
ruleset file the config names is edited while a replay feeds the hook.

- a valid edit (a new first rule dropping tcp/80, the 192.0.2.66 rule
  deleted) changes the verdicts: tcp/80 from 192.0.2.1 turns from the
  policy's ACCEPT to DROP;
- the rules it did not change keep their counters across the swap (the
  design: service/filters.py), the new rule starts at 0: after the replay
  stops, each unchanged rule has counted exactly the packets of its kind the
  replay sent, across the reload and a refusal -- none lost, none twice;
- a broken edit (an unknown match) is refused naming the config entry's
  line and the ruleset file's line and token, and the running filter is the
  one before (same program, same counters going on).
"""
from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from scapy.all import IP, TCP, UDP, Ether, wrpcap

from dataplane.service.protos import pb, rpc
from support.service import PORT_0, served

HEAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
SSH = "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\n"
DNS = "-A INPUT -p udp -m udp --dport 53 -j ACCEPT\n"
V1 = HEAD + SSH + DNS + "-A INPUT -s 192.0.2.66/32 -j DROP\nCOMMIT\n"
V2 = HEAD + "-A INPUT -p tcp -m tcp --dport 80 -j DROP\n" + SSH + DNS + "COMMIT\n"
BROKEN = HEAD + "-A INPUT -p tcp -m tcp --dport 80 -j DROP\n" + SSH + \
    "-A INPUT -p udp -m nosuch --dport 53 -j ACCEPT\n" + "COMMIT\n"


def _trace(path: Path) -> None:
    e = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    wrpcap(str(path), [e / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=22),
                       e / IP(src="192.0.2.1", dst="192.0.2.9") / UDP(dport=53),
                       e / IP(src="192.0.2.66", dst="192.0.2.9") / TCP(dport=80),
                       e / IP(src="192.0.2.1", dst="192.0.2.9") / TCP(dport=80)])


def _rules(srv) -> dict[str, int]:
    r = srv.filter.List(pb.ListFilterRequest(hook="edge"), timeout=30)
    return {c.rule if c.rule.startswith("-A") else f"{c.chain} {c.rule}": c.packets for c in r.counters}


def _verdicts(srv) -> dict[str, int]:
    h = srv.hooks.List(pb.ListHooksRequest(hook="edge"), timeout=30).hooks[0]
    out: dict[str, int] = {}
    for c in h.counters:
        for v, n in c.packets.items():
            out[v] = out.get(v, 0) + n
    return out


def _wait(pred, what: str, timeout: float = 60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_reload_filter_edit_keeps_unchanged_counters(tmp_path):
    _trace(tmp_path / "t.pcap")
    rules = tmp_path / "fw.rules"
    rules.write_text(V1)
    cfg = tmp_path / "dp.yaml"
    cfg.write_text("filters:\n  - hook: edge\n    rules: fw.rules\n    chain: INPUT\n"
                   "replays:\n  - name: feed\n    hook: edge\n    pcap: t.pcap\n    loop: forever\n    rate: 4000\n")
    with served("--config", str(cfg), *PORT_0) as srv:
        srv.filter = rpc.FilterStub(srv.channel)
        _wait(lambda: _rules(srv).get(SSH.strip(), 0) >= 200, "packets through the filter")
        before = _rules(srv)
        assert before["-A INPUT -s 192.0.2.66/32 -j DROP"] > 0 and before["INPUT policy ACCEPT"] > 0

        # 1. valid edit of the ruleset file (the config file itself is unchanged)
        rules.write_text(V2)
        res = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert res.changes == ["filter edge: restored"], res.changes
        after = _rules(srv)
        assert "-A INPUT -s 192.0.2.66/32 -j DROP" not in after
        assert after[SSH.strip()] >= before[SSH.strip()] and after[DNS.strip()] >= before[DNS.strip()]
        assert after["INPUT policy ACCEPT"] >= before["INPUT policy ACCEPT"]      # unchanged policy: carried too
        new = "-A INPUT -p tcp -m tcp --dport 80 -j DROP"
        v0 = _verdicts(srv)
        _wait(lambda: _rules(srv)[new] >= 200, "the new rule counting")
        v1 = _verdicts(srv)
        dp, dd = v1.get("pass", 0) - v0.get("pass", 0), v1.get("drop", 0) - v0.get("drop", 0)
        assert 0.4 < dd / (dp + dd) < 0.6, (dp, dd)                  # now both tcp/80 packets of 4 drop
        policy_at_v2 = _rules(srv)["INPUT policy ACCEPT"]

        # 2. broken edit: refused with the entry's line, the ruleset's line and the token
        rules.write_text(BROKEN)
        with pytest.raises(grpc.RpcError) as ei:
            srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        d = ei.value.details()
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"{cfg}:2:" in d and f"{rules}:7:" in d and "'nosuch'" in d, d
        assert list(_rules(srv)) == list(after)                        # still the V2 rules
        assert _rules(srv)["INPUT policy ACCEPT"] == policy_at_v2           # tcp/80 still dropped: nothing reaches it
        n = _rules(srv)[SSH.strip()]
        _wait(lambda: _rules(srv)[SSH.strip()] > n + 50, "counting after the refusal")

        # counters continuous: every ssh/dns packet the replay sent is counted once by its rule
        rid = srv.replay.List(pb.ListReplaysRequest(), timeout=30).replays[0].id
        srv.replay.Stop(pb.StopReplayRequest(id=rid), timeout=60)
        sent = next(x for x in srv.replay.List(pb.ListReplaysRequest(), timeout=30).replays if x.id == rid).packets
        final = _rules(srv)
        assert final[SSH.strip()] == (sent + 3) // 4, (final, sent)   # trace position 0 of 4
        assert final[DNS.strip()] == (sent + 2) // 4, (final, sent)   # position 1
