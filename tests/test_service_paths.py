"""Clients of the (root) service may only read and write where the config says.

Found by review: Programs.Load(path), Replay.Start(pcap) and replay outputs
took any path, so a client could read any file into the server and create or
truncate any file on the host.  `paths: {read: [...], write: [...]}` bounds
them; `..` and symlinks are resolved before the check.
"""
from __future__ import annotations

import os
import shutil
import sys

import grpc
import pytest

from conftest import ROOT
from dataplane.service.config import ConfigError, parse_config
from dataplane.service.paths import DATA_DIR
from dataplane.service.protos import pb

sys.path.insert(0, str(ROOT / "tests"))
from support.service import RPC_TIMEOUT, Server, rpc_error, start_server, stop, wait_ready  # noqa: E402

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"
TRACE = ROOT / "dataplane" / "data" / "sample_trace.pcap"
DENIED = grpc.StatusCode.PERMISSION_DENIED


def _serve(*args):
    proc, lines = start_server(*args, allow_tmp=False)
    g, m = wait_ready(proc, lines)
    srv = Server(proc, g, m, lines)
    grpc.channel_ready_future(srv.channel).result(timeout=RPC_TIMEOUT)
    return srv


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("paths")
    (d / "in").mkdir()
    (d / "out").mkdir()
    (d / "secret").mkdir()
    shutil.copy(FW, d / "in" / "fw.o")
    shutil.copy(TRACE, d / "in" / "t.pcap")
    shutil.copy(FW, d / "secret" / "fw.o")
    shutil.copy(TRACE, d / "secret" / "t.pcap")
    (d / "secret" / "victim").write_bytes(b"precious")
    os.symlink(d / "secret" / "t.pcap", d / "in" / "link.pcap")          # read escape by symlink
    os.symlink(d / "secret" / "victim", d / "out" / "link.pcap")         # write escape by symlink
    os.symlink(d / "secret", d / "out" / "dirlink")                      # ... by a symlinked dir
    cfg = d / "srv.yaml"
    cfg.write_text("grpc: {listen: '127.0.0.1:0'}\nmetrics: {enabled: false}\n"
                   "paths: {read: [in], write: [out]}\n")
    srv = _serve("--config", str(cfg))
    try:
        pid = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="pathfw"),
                             timeout=RPC_TIMEOUT).programs[0].id
        srv.hooks.Attach(pb.AttachRequest(program_id=pid, hook="paths"), timeout=RPC_TIMEOUT)
        yield srv, d
    finally:
        srv.channel.close()
        stop(srv.proc)


def test_load_path_outside_read_dirs_denied(env):
    srv, d = env
    for path in ("/etc/passwd", str(d / "secret" / "fw.o"), str(d / "in" / ".." / "secret" / "fw.o"),
                 str(d / "srv.yaml")):
        e = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(path=path), timeout=RPC_TIMEOUT))
        assert e.code() == DENIED, (path, e.code(), e.details())
        assert "allowed read" in e.details()
    r = srv.progs.Load(pb.LoadRequest(path=str(d / "in" / "fw.o"), name="okfw"), timeout=RPC_TIMEOUT)
    assert r.programs
    # the bundled data is always readable
    assert srv.progs.Load(pb.LoadRequest(path=str(FW), name="datafw"), timeout=RPC_TIMEOUT).programs
    assert srv.proc.poll() is None


def test_replay_pcap_outside_read_dirs_denied(env):
    srv, d = env
    for path in (str(d / "secret" / "t.pcap"), str(d / "in" / "link.pcap"), "/etc/shadow"):
        e = rpc_error(lambda: srv.replay.Start(pb.StartReplayRequest(hook="paths", pcap=path),
                                               timeout=RPC_TIMEOUT))
        assert e.code() == DENIED, (path, e.details())
    ok = srv.replay.Start(pb.StartReplayRequest(hook="paths", pcap=str(d / "in" / "t.pcap")), timeout=RPC_TIMEOUT)
    sample = srv.replay.Start(pb.StartReplayRequest(hook="paths", pcap="sample:"), timeout=RPC_TIMEOUT)
    for r in (ok, sample):
        final = list(srv.replay.Watch(pb.WatchReplayRequest(id=r.id, interval_ms=20), timeout=60))[-1]
        assert final.state == "done", final


def test_replay_outputs_outside_write_dirs_denied(env):
    srv, d = env
    victim = d / "secret" / "victim"
    for out in (str(victim), str(d / "out" / "link.pcap"), str(d / "out" / "dirlink" / "victim"),
                str(d / "out" / ".." / "secret" / "victim"), str(d / "in" / "new.pcap"), "/etc/dp-evil.pcap"):
        e = rpc_error(lambda: srv.replay.Start(pb.StartReplayRequest(
            hook="paths", pcap=str(d / "in" / "t.pcap"), outputs={"drop": out}), timeout=RPC_TIMEOUT))
        assert e.code() == DENIED, (out, e.details())
        assert "allowed write" in e.details()
    assert victim.read_bytes() == b"precious"
    assert not os.path.exists("/etc/dp-evil.pcap") and not (d / "in" / "new.pcap").exists()
    out = d / "out" / "pass.pcap"
    r = srv.replay.Start(pb.StartReplayRequest(hook="paths", pcap=str(d / "in" / "t.pcap"),
                                               outputs={"pass": str(out)}), timeout=RPC_TIMEOUT)
    final = list(srv.replay.Watch(pb.WatchReplayRequest(id=r.id, interval_ms=20), timeout=60))[-1]
    assert final.state == "done" and final.verdicts["pass"] > 0
    assert out.stat().st_size > 24


def test_no_config_reads_only_bundled_data(tmp_path):
    shutil.copy(FW, tmp_path / "fw.o")
    srv = _serve("--grpc", "127.0.0.1:0", "--metrics", "off")
    try:
        e = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(path=str(tmp_path / "fw.o")), timeout=RPC_TIMEOUT))
        assert e.code() == DENIED, e.details()
        assert srv.progs.Load(pb.LoadRequest(path=str(FW)), timeout=RPC_TIMEOUT).programs
    finally:
        srv.channel.close()
        stop(srv.proc)


def test_config_paths_parse(tmp_path):
    cfg = parse_config("paths:\n  read: [a, /abs]\n  write: [out]\n", str(tmp_path / "c.yaml"))
    pol = cfg.path_policy()
    assert pol.read == [str(tmp_path / "a"), "/abs", os.path.realpath(DATA_DIR)]
    assert pol.write == [str(tmp_path / "out")]
    d = parse_config("", str(tmp_path / "c.yaml")).path_policy()
    assert d.read == [str(tmp_path), os.path.realpath(DATA_DIR)] and d.write == [str(tmp_path / "outputs")]
    with pytest.raises(ConfigError, match=r"c.yaml:2: paths: unknown key 'exec'"):
        parse_config("paths:\n  exec: [x]\n", str(tmp_path / "c.yaml"))
