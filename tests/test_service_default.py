"""The embedded default (`make run`): `dataplane serve --config
configs/default.yaml` loads the shipped sample firewall, replays the bundled
trace through it on a loop, and its metrics keep increasing.  The shipped
firewall object must be what its source compiles to."""
from __future__ import annotations

import re
import subprocess
import sys
import time

import grpc

from conftest import ROOT, run_cli
from dataplane.loader import load_object
from dataplane.service import sample_firewall
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from support.service import RPC_TIMEOUT, gauge, start_server, stop, wait_ready  # noqa: E402

DEFAULT = ROOT / "configs" / "default.yaml"


def _scrape(addr: str) -> str:
    import urllib.request
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=RPC_TIMEOUT) as r:
        return r.read().decode()


def _cpu_seconds(pid: int) -> float:
    import os
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime


def test_shipped_sample_object_is_built_from_its_source(tmp_path, clang):
    rebuilt = sample_firewall.build(str(tmp_path / "xdp_fw.o"), clang)
    shipped, fresh = load_object(str(sample_firewall.OBJECT)), load_object(rebuilt)
    # what matters to a load: the same instructions, relocations and maps ...
    assert {n: p.insns for n, p in shipped.programs.items()} == {n: p.insns for n, p in fresh.programs.items()}
    assert {n: (m.map_type, m.key_size, m.value_size, m.max_entries, m.map_flags) for n, m in shipped.maps.items()} \
        == {n: (m.map_type, m.key_size, m.value_size, m.max_entries, m.map_flags) for n, m in fresh.maps.items()}
    # ... and with the same clang, the very same bytes (no checkout path inside)
    assert open(rebuilt, "rb").read() == open(sample_firewall.OBJECT, "rb").read(), \
        "dataplane/data/xdp_fw.o is stale: run `python -m dataplane.service.sample_firewall`"


def test_make_run_target_serves_the_default_config():
    p = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "dataplane serve --config configs/default.yaml" in p.stdout


def test_check_applies_default_config_without_serving():
    out = run_cli("serve", "--config", str(DEFAULT), "--check").stdout
    assert "ok: 1 programs, 3 maps, 1 hooks, 1 replays" in out


def test_default_config_replays_sample_on_a_loop():
    proc, lines = start_server("--config", str(DEFAULT), "--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
    try:
        g, m = wait_ready(proc, lines)
        with grpc.insecure_channel(g) as ch:
            hooks = rpc.HooksStub(ch).List(pb.ListHooksRequest(), timeout=RPC_TIMEOUT).hooks
            assert [(h.name, [a.program_name for a in h.chain]) for h in hooks] == [("sample", ["xdp_firewall"])]
            (r,) = rpc.ReplayStub(ch).List(pb.ListReplaysRequest(), timeout=RPC_TIMEOUT).replays
            assert (r.name, r.hook, r.loop, r.state) == ("sample", "sample", -1, "running")
            pid = hooks[0].chain[0].program_id
            assert r.rate == "20000 pps"          # paced: the default must not burn a core
            info = rpc.ServiceStub(ch).Info(pb.InfoRequest(), timeout=RPC_TIMEOUT)
            assert (info.hooks, info.replays, info.replays_running) == (1, 1, 1)
        cpu0 = _cpu_seconds(proc.pid)
        first = _scrape(m)
        time.sleep(1.0)
        second = _scrape(m)
        assert _cpu_seconds(proc.pid) - cpu0 < 0.5       # a flat-out replay would use ~1.0

        def total(text, verdict):
            return gauge(text, "dataplane_hook_packets_total", hook="sample", program="xdp_firewall", id=pid,
                         verdict=verdict)
        for v in ("pass", "drop"):       # the sample trace has packets of both outcomes
            assert 0 < total(first, v) < total(second, v), v
        p1 = gauge(first, "dataplane_replay_packets_total", replay="sample", hook="sample")
        p2 = gauge(second, "dataplane_replay_packets_total", replay="sample", hook="sample")
        assert 0 < p1 < p2
        assert gauge(second, "dataplane_replay_passes_total", replay="sample", hook="sample") >= 1
        assert gauge(second, "dataplane_program_run_seconds_total", program="xdp_firewall", id=pid) > 0
        assert re.search(r'^dataplane_map_entries\{id="\d+",map="port_block"\} 2\.0$', second, re.M)
        assert stop(proc) == 0
    finally:
        stop(proc)
