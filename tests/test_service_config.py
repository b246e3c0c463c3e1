"""Service configuration: validation errors name file and line; the real
`dataplane serve` refuses a bad file and loads the programs a good one lists."""
from __future__ import annotations

import subprocess
import sys

import grpc
import pytest

from conftest import ROOT, run_cli
from dataplane.service.config import ConfigError, load_config, parse_config
from dataplane.service.protos import pb, rpc

sys.path.insert(0, str(ROOT / "tests"))
from support.progs import compile_c  # noqa: E402
from support.service import RPC_TIMEOUT, start_server, stop, wait_ready  # noqa: E402


@pytest.mark.parametrize("text,line,reason", [
    ("grpc:\n  listen: 127.0.0.1:1\nmetrics:\n  lisen: x\n", 4, "unknown key 'lisen'"),
    ("grpc:\n  listen: 127.0.0.1\n", 2, "expected HOST:PORT"),
    ("verifier: maybe\n", 1, "expected true or false"),
    ("programs:\n  - program: x\n", 2, "missing required key 'object'"),
    ("programs:\n  - object: a.o\n  - object: [1]\n", 3, "programs[1].object: expected a non-empty string"),
    ("programs: {a: 1}\n", 1, "expected a list"),
    ("grpc:\n  listen: [unclosed\n", 3, "YAML syntax"),
    ("grpc: {listen: a:1}\ngrpc: {listen: a:2}\n", 2, "duplicate key 'grpc'"),
    ("engine: fast\n", 1, "engine: expected one of interp, jit"),
    # maps to fill
    ("programs:\n  - object: a.o\n    maps:\n      m:\n        - {key: zz, value: '01'}\n", 5,
     "programs[0].maps.m[0].key: expected hex bytes"),
    ("programs:\n  - object: a.o\n    maps:\n      m:\n        - {key: '01'}\n", 5, "missing required key 'value'"),
    ("programs:\n  - object: a.o\n    maps: [1]\n", 3, "programs[0].maps: expected a mapping"),
    ("programs:\n  - object: a.o\n  - object: b/a.o\n", 3, "object name 'a' already used on line 2"),
    # hooks: chains name programs entries
    ("programs:\n  - object: a.o\nhooks:\n  - name: h\n    chain: [a, b]\n", 5, "no programs entry named 'b'"),
    ("hooks:\n  - chain: []\n", 2, "hooks[0]: missing required key 'name'"),
    ("hooks:\n  - name: h\n  - name: h\n", 3, "hook 'h' already defined on line 2"),
    # replays: into a defined hook, loop forever or N >= 1, outputs by verdict
    ("hooks:\n  - name: h\nreplays:\n  - hook: x\n    pcap: t.pcap\n", 4, "no hook named 'x'"),
    ("hooks:\n  - name: h\nreplays:\n  - hook: h\n", 4, "missing required key 'pcap'"),
    ("hooks:\n  - name: h\nreplays:\n  - hook: h\n    pcap: t\n    loop: 0\n", 6, "expected a number of passes"),
    ("hooks:\n  - name: h\nreplays:\n  - hook: h\n    pcap: t\n    outputs: {pas: x}\n", 6,
     "unknown key 'pas'"),
])
def test_errors_name_line(text, line, reason):
    with pytest.raises(ConfigError) as ei:
        parse_config(text, "svc.yaml")
    assert ei.value.line == line, str(ei.value)
    assert str(ei.value).startswith(f"svc.yaml:{line}: "), str(ei.value)
    assert reason in str(ei.value)


def test_defaults_and_relative_paths(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("metrics:\n  enabled: false\nprograms:\n  - object: sub/x.o\n    program: p\n")
    c = load_config(str(cfg))
    assert c.grpc_listen == "127.0.0.1:50051" and not c.metrics_enabled and c.verifier
    assert [(p.object, p.program, p.line) for p in c.programs] == [(str(tmp_path / "sub" / "x.o"), "p", 4)]
    assert parse_config("").programs == []


def test_full_schema(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("engine: interp\n"
                   "programs:\n  - object: fw.o\n    name: fw\n    maps:\n      port_block:\n"
                   "        - {key: '06 00 00 17', value: '01'}\n"
                   "hooks:\n  - name: h\n    chain: [fw/xdp_firewall]\n"
                   "replays:\n  - hook: h\n    pcap: t.pcap\n    loop: forever\n    outputs: {drop: o/d.pcap}\n"
                   "  - hook: h\n    pcap: 'sample:'\n    loop: 3\n")
    c = load_config(str(cfg))
    assert c.engine == "interp"
    assert [(f.map, f.key, f.value, f.line) for f in c.programs[0].maps] == [("port_block", bytes.fromhex("06000017"),
                                                                             b"\x01", 7)]
    assert [(h.name, [tuple(e) for e in h.chain]) for h in c.hooks] == [("h", [("fw", "xdp_firewall", 10)])]
    r0, r1 = c.replays
    assert (r0.pcap, r0.loop, r0.outputs, r0.line) == (str(tmp_path / "t.pcap"), -1, {"drop": str(tmp_path / "o/d.pcap")}, 12)
    assert (r1.pcap, r1.loop) == ("sample:", 3)


def test_shipped_default_config_is_valid():
    c = load_config(str(ROOT / "configs" / "default.yaml"))
    assert (c.grpc_listen, c.metrics_listen) == ("127.0.0.1:50051", "127.0.0.1:9464")
    assert [h.name for h in c.hooks] == ["sample"] and c.replays[0].loop == -1


def test_load_time_errors_name_the_entry_line(tmp_path):
    """What only loading can tell (a map or program name inside the object) still names the line."""
    fw = ROOT / "dataplane" / "data" / "xdp_fw.o"
    cases = [
        ("programs:\n  - object: {fw}\n    name: fw\n    maps:\n      nope:\n        - {{key: '00', value: '00'}}\n",
         6, "has no map 'nope'"),
        ("programs:\n  - object: {fw}\n    name: fw\n    maps:\n      port_block:\n        - {{key: '00', value: '00'}}\n",
         6, "key is 1 bytes, expected 4"),
        ("programs:\n  - object: {fw}\n    name: fw\nhooks:\n  - name: h\n    chain: [fw/nope]\n", 6,
         "has no program 'nope'"),
        ("programs:\n  - object: {fw}\n    name: fw\nhooks:\n  - name: h\n    chain: [fw]\n"
         "replays:\n  - hook: h\n    pcap: missing.pcap\n", 8, "not found"),
    ]
    for text, line, reason in cases:
        cfg = tmp_path / "c.yaml"
        cfg.write_text(text.format(fw=fw))
        p = run_cli("serve", "--config", str(cfg), "--check", check=False)
        assert p.returncode == 2 and f"{cfg}:{line}: " in p.stderr and reason in p.stderr, (text, p.stderr)


def test_serve_refuses_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpc:\n  listen: 127.0.0.1:0\nmetrics:\n  port: 9464\n")
    p = run_cli("serve", "--config", str(bad), check=False)
    assert p.returncode == 2
    assert f"{bad}:4: metrics: unknown key 'port'" in p.stderr


def test_serve_loads_configured_programs(tmp_path, clang):
    compile_c(clang, ROOT / "tests" / "progs" / "xdp_counter.c", tmp_path / "xdp_counter.o")
    cfg = tmp_path / "svc.yaml"
    cfg.write_text("grpc:\n  listen: 127.0.0.1:0\nmetrics:\n  enabled: false\n"
                   "programs:\n  - object: xdp_counter.o\n    name: counter\n")
    proc, lines = start_server("--config", str(cfg))
    try:
        g, m = wait_ready(proc, lines)
        assert m == "off"
        with grpc.insecure_channel(g) as ch:
            progs = rpc.ProgramsStub(ch).List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs
            assert [(p.name, p.object_name) for p in progs] == [("xdp_count", "counter")]
        assert stop(proc) == 0, "SIGTERM must shut the server down cleanly"
    finally:
        stop(proc)

    # a program entry that cannot be loaded: the error names the entry's line
    cfg.write_text("grpc:\n  listen: 127.0.0.1:0\nmetrics:\n  enabled: false\n"
                   "programs:\n  - object: xdp_counter.o\n  - object: missing.o\n")
    p = subprocess.run([sys.executable, "-m", "dataplane", "serve", "--config", str(cfg)], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and f"{cfg}:7: loading " in p.stderr and "not found" in p.stderr


def test_second_server_on_same_port_is_refused():
    proc, lines = start_server("--grpc", "127.0.0.1:0", "--metrics", "off")
    try:
        g, _ = wait_ready(proc, lines)
        p = subprocess.run([sys.executable, "-m", "dataplane", "serve", "--grpc", g, "--metrics", "off"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and f"gRPC listen {g}" in p.stderr
    finally:
        stop(proc)
