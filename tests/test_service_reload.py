"""Live config reload of a real `dataplane serve`: the config file of a
running server is edited and reloaded (SIGHUP, then Service.Reload) while a
replay feeds the hook.

- a valid change (10.0.0.77 added to the sample firewall's block list) is
  applied in place: the program ids stay, its packets turn from pass to
  drop, and the replay is not restarted;
- a broken file (a YAML value of the wrong kind) is refused with file:line;
- a file that parses but fails while applying (the block list entry removed
  AND a chain naming a program the object does not have) is refused with the
  chain entry's line, and the map change it made first is undone;
- the packet counters are continuous: after the replay is stopped, every
  packet it fed is counted by the hook (pass + drop = packets replayed).
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import grpc
import pytest

from conftest import ROOT
from dataplane.service.protos import pb
from support.hooks import write_pcap
from support.packets import udp4
from support.service import served

FW_OBJ = ROOT / "dataplane" / "data" / "xdp_fw.o"
BLOCK_77 = '        - {key: "20 00 00 00 0a 00 00 4d", value: "01 00 00 00"}\n'   # 10.0.0.77/32


def _config(block_77: bool, chain: str = "[fw]", extra_program: str = "") -> str:
    return f"""\
verifier: true
programs:
  - object: {FW_OBJ}
    program: xdp_firewall
    name: fw
    maps:
      src_block:
        - {{key: "20 00 00 00 0a 00 00 42", value: "01 00 00 00"}}
{BLOCK_77 if block_77 else ''}{extra_program}
hooks:
  - name: rl
    chain: {chain}
replays:
  - name: feed
    hook: rl
    pcap: trace.pcap
    loop: forever
    rate: 4000
"""


def _counts(srv) -> dict[str, int]:
    r = srv.hooks.List(pb.ListHooksRequest(), timeout=30)
    out = {"pass": 0, "drop": 0}
    for h in r.hooks:
        if h.name != "rl":
            continue
        for p in h.counters:
            for v, n in p.packets.items():
                out[v] = out.get(v, 0) + n
    return out


def _prog_ids(srv) -> list[int]:
    return sorted(p.id for p in srv.progs.List(pb.ListProgramsRequest(), timeout=30).programs)


def _wait(pred, timeout=60.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def _wait_line(srv, prefix: str, timeout=60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = srv.lines.get(timeout=1.0)
        except Exception:
            continue
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} line from the server")


def test_reload_valid_then_broken_counters_continuous(tmp_path: Path):
    # 50 packets from 10.0.0.77 (blocked by the second config), 50 from 10.0.0.5
    frames = [udp4(f"10.0.0.{77 if i % 2 else 5}", "10.0.0.1", 1000 + i, 53) for i in range(100)]
    write_pcap(tmp_path / "trace.pcap", frames)
    cfg = tmp_path / "dp.yaml"
    cfg.write_text(_config(False))
    with served("--config", str(cfg), "--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0") as srv:
        ids = _prog_ids(srv)
        _wait(lambda: _counts(srv)["pass"] >= 200, what="packets through the hook")
        assert _counts(srv)["drop"] == 0          # nothing in the trace is blocked yet

        # 1. valid change, by SIGHUP: block 10.0.0.77
        cfg.write_text(_config(True))
        srv.proc.send_signal(signal.SIGHUP)
        line = _wait_line(srv, "dataplane reload")
        assert line.startswith("dataplane reload 1 applied"), line
        assert "src_block" in line and "0a00004d" in line, line
        assert _prog_ids(srv) == ids              # the object was kept: only the map changed
        a = _counts(srv)
        _wait(lambda: _counts(srv)["drop"] - a["drop"] >= 100, what="drops after the reload")
        b = _counts(srv)
        time.sleep(1.0)
        c = _counts(srv)
        dp, dd = c["pass"] - b["pass"], c["drop"] - b["drop"]
        assert dd > 0 and 0.3 < dd / (dp + dd) < 0.7, (dp, dd)   # half the trace is 10.0.0.77
        replays = srv.replay.List(pb.ListReplaysRequest(), timeout=30).replays
        assert [r.name for r in replays] == ["feed"]           # not restarted

        # 2. broken YAML: refused with its line, nothing changes
        text = _config(False).replace("verifier: true", "verifier: maybe")
        cfg.write_text(text)
        with pytest.raises(grpc.RpcError) as ei:
            srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"{cfg}:{_line_of(text, 'verifier:')}:" in ei.value.details(), ei.value.details()

        # 3. parses, fails while applying: the map change made first is undone
        text = _config(False, chain="[fw/no_such_prog]")
        cfg.write_text(text)
        with pytest.raises(grpc.RpcError) as ei:
            srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"{cfg}:{_line_of(text, 'chain:')}:" in ei.value.details(), ei.value.details()
        assert "no_such_prog" in ei.value.details()
        m = next(m for m in srv.maps.List(pb.ListMapsRequest(), timeout=30).maps if m.name == "src_block")
        v = srv.maps.Lookup(pb.LookupRequest(map_id=m.id, key=bytes.fromhex("200000000a00004d")), timeout=30)
        assert v.value == bytes.fromhex("01000000")            # 10.0.0.77 still blocked
        d = _counts(srv)
        time.sleep(1.0)
        e = _counts(srv)
        assert e["drop"] > d["drop"] and e["pass"] > d["pass"]  # still half dropped, still running
        assert _prog_ids(srv) == ids

        # 4. a valid reload after the refusals still works (generation 2), by RPC
        cfg.write_text(_config(True, chain="[{program: fw/xdp_firewall, proceed_on: [pass]}]"))
        r = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert r.generation == 2 and r.config_path == str(cfg)
        assert r.changes == []                    # same chain, same fills: nothing to do
        assert r.notes == []                      # --grpc/--metrics on the command line are not file changes
        text = _config(True).replace("verifier: true", "verifier: false")
        cfg.write_text(text)
        r = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert r.generation == 3 and r.notes == ["verifier: changed in the file; takes effect at the next restart"]

        # counters continuous: stop the replay, every packet it fed was counted once
        rid = replays[0].id
        srv.replay.Stop(pb.StopReplayRequest(id=rid), timeout=60)
        st = next(r for r in srv.replay.List(pb.ListReplaysRequest(), timeout=30).replays if r.id == rid)
        f = _counts(srv)
        assert st.packets > 0 and f["pass"] + f["drop"] == st.packets, (f, st.packets)


def test_reload_changes_chains_and_objects(tmp_path: Path):
    """A second object joins the chain (loaded, published in one swap), then leaves (unloaded)."""
    frames = [udp4("10.0.0.5", "10.0.0.1", 1000 + i, 53) for i in range(50)]
    write_pcap(tmp_path / "trace.pcap", frames)
    cfg = tmp_path / "dp.yaml"
    second = (f"  - object: {FW_OBJ}\n    program: xdp_firewall\n    name: fw2\n")
    cfg.write_text(_config(False))
    with served("--config", str(cfg), "--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0") as srv:
        def chain():
            h = next(h for h in srv.hooks.List(pb.ListHooksRequest(), timeout=30).hooks if h.name == "rl")
            return h.revision, [(a.program_id, a.program_name) for a in h.chain], \
                {c.program_id: sum(c.packets.values()) for c in h.counters}
        rev0, chain0, _ = chain()
        (fw_id, _), = chain0
        cfg.write_text(_config(False, chain="[fw2, {program: fw, proceed_on: [pass]}]", extra_program=second))
        r = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert any("fw2: loaded" in c for c in r.changes), r.changes
        rev1, chain1, _ = chain()
        assert rev1 == rev0 + 1                   # the whole new chain is one revision: one swap
        assert [n for _, n in chain1] == ["xdp_firewall", "xdp_firewall"] and chain1[1][0] == fw_id
        fw2_id = chain1[0][0]
        _wait(lambda: chain()[2].get(fw2_id, 0) > 0, what="packets through the new first program")
        cfg.write_text(_config(False))
        r = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert any("fw2: unloaded" in c for c in r.changes), r.changes
        _, chain2, _ = chain()
        assert chain2 == [(fw_id, "xdp_firewall")]
        assert fw2_id not in _prog_ids(srv)


def test_reload_rotates_tokens(tmp_path: Path):
    """auth.tokens read from a file (a Secret volume): after the file and a reload, the old token is
    refused and the new one works, on gRPC and /metrics -- without a restart."""
    import urllib.error
    import urllib.request
    tok = tmp_path / "admin.token"
    tok.write_text("a" * 32 + "\n")
    cfg = tmp_path / "dp.yaml"
    cfg.write_text(f"auth:\n  tokens:\n    - {{name: ops, role: admin, file: {tok}}}\n")
    with served("--config", str(cfg), "--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0") as srv:
        def info(token):
            return srv.svc.Info(pb.InfoRequest(), metadata=[("authorization", f"Bearer {token}")], timeout=30)

        def metrics(token):
            req = urllib.request.Request(f"http://{srv.metrics}/metrics", headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status
            except urllib.error.HTTPError as exc:
                return exc.code
        info("a" * 32)
        assert metrics("a" * 32) == 200
        tok.write_text("b" * 32 + "\n")
        r = srv.svc.Reload(pb.ReloadRequest(), metadata=[("authorization", "Bearer " + "a" * 32)], timeout=60)
        assert r.changes == ["auth: 1 tokens"] and r.notes == [], (r.changes, r.notes)
        with pytest.raises(grpc.RpcError) as ei:
            info("a" * 32)
        assert ei.value.code() == grpc.StatusCode.UNAUTHENTICATED
        info("b" * 32)
        assert metrics("a" * 32) == 401 and metrics("b" * 32) == 200
        # Reload is an admin method: without a token it is refused, and nothing changes
        with pytest.raises(grpc.RpcError) as ei:
            srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert ei.value.code() == grpc.StatusCode.UNAUTHENTICATED
