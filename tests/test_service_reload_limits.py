"""A reload enforces the limits a fresh start with the same file would (issue 14).

Against a real `dataplane serve` started from a config file:

- a file whose programs exceed its own ``limits.objects`` is refused by
  Service.Reload and by SIGHUP, naming the limit, exactly as
  `serve --check` refuses it, and nothing changes;
- replacing an object at the limit works (a fresh start would hold one
  object, not the old and the new side by side);
- a file that lowers a limit below what clients made is refused and the
  running limit is the old one (a load at the old limit is refused with the
  old number, not the new);
- a raised limit applies at once (one more load works), and limits made once
  for the process (the gRPC message size) are a note.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from conftest import ROOT
from dataplane.service.protos import pb
from support.service import PORT_0, RPC_TIMEOUT, rpc_error, served

FW = ROOT / "dataplane" / "data" / "xdp_fw.o"


def _config(objs: list[Path], limits: str) -> str:
    progs = "".join(f"  - object: {o}\n    program: xdp_firewall\n    name: fw{i}\n" for i, o in enumerate(objs))
    return f"limits: {{{limits}}}\nprograms:\n{progs}hooks:\n  - name: rl\n    chain: [fw0]\n"


def _ids(srv) -> list[int]:
    return sorted(p.id for p in srv.progs.List(pb.ListProgramsRequest(), timeout=RPC_TIMEOUT).programs)


def _check(cfg: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dataplane", "serve", "--check", "--config", str(cfg)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _wait_line(srv, prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = srv.lines.get(timeout=1.0)
        except Exception:
            continue
        if line.startswith(prefix):
            return line
    raise AssertionError(f"no {prefix!r} line from the server")


def test_reload_enforces_the_limits_of_a_fresh_start(tmp_path: Path):
    copy = tmp_path / "fw_copy.o"
    shutil.copyfile(FW, copy)
    cfg = tmp_path / "dp.yaml"
    cfg.write_text(_config([FW], "objects: 1"))
    with served(*PORT_0, "--config", str(cfg)) as srv:
        ids = _ids(srv)
        assert len(ids) == 1

        # 1. two programs with limits.objects 1: refused by reload as by a fresh start
        over = tmp_path / "over.yaml"
        over.write_text(_config([FW, copy], "objects: 1"))
        fresh = _check(over)
        assert fresh.returncode != 0 and "limits.objects" in fresh.stderr, fresh.stderr
        cfg.write_text(over.read_text())
        err = rpc_error(lambda: srv.svc.Reload(pb.ReloadRequest(), timeout=60))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
        assert "limits.objects" in err.details() and str(cfg) in err.details(), err.details()
        assert _ids(srv) == ids
        srv.proc.send_signal(signal.SIGHUP)
        line = _wait_line(srv, "dataplane reload")
        assert line.startswith("dataplane reload refused") and "limits.objects" in line, line
        assert _ids(srv) == ids

        # 2. the one object replaced by another file at the limit: a fresh start holds one, so does the reload
        cfg.write_text(_config([copy], "objects: 1"))
        assert _check(cfg).returncode == 0
        r = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert any("fw0: reloaded" in c for c in r.changes), r.changes
        new = _ids(srv)
        assert len(new) == 1 and new != ids          # a new program from the other file, the old one unloaded

        # 3. raised: applies at once, and a client load now fits beside the config's object
        cfg.write_text(_config([copy], "objects: 2, message_bytes: 1MiB"))
        r = srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        assert any(c.startswith("limits:") and "objects 1 -> 2" in c for c in r.changes), r.changes
        assert "message_bytes" not in " ".join(r.changes)
        assert r.notes == ["limits.message_bytes: changed in the file; takes effect at the next restart"], r.notes
        client = srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="client"),
                                timeout=RPC_TIMEOUT).programs[0].id
        err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="third"),
                                               timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limit is 2" in err.details(), err.details()

        # 4. lowered below what runs (the client's object): refused, the running limit stays 2
        before = _ids(srv)
        cfg.write_text(_config([copy], "objects: 1"))
        err = rpc_error(lambda: srv.svc.Reload(pb.ReloadRequest(), timeout=60))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "limits.objects: 2 objects would stay loaded; the limit is 1" in err.details(), err.details()
        assert _ids(srv) == before
        err = rpc_error(lambda: srv.progs.Load(pb.LoadRequest(object=FW.read_bytes(), name="third"),
                                               timeout=RPC_TIMEOUT))
        assert "limit is 2" in err.details(), err.details()

        # 5. map memory lowered below what the maps use: refused naming it; then the limit applies
        srv.progs.Unload(pb.UnloadRequest(id=client), timeout=RPC_TIMEOUT)
        req = pb.CreateMapRequest(type_id=2, key_size=4, value_size=4096, max_entries=256, name="chunk")
        made = srv.maps.Create(req, timeout=RPC_TIMEOUT).id           # 1 MiB of array
        cfg.write_text(_config([copy], "objects: 2, map_memory_bytes: 1MiB"))
        err = rpc_error(lambda: srv.svc.Reload(pb.ReloadRequest(), timeout=60))
        assert "limits.map_memory_bytes" in err.details(), err.details()
        srv.maps.Create(req, timeout=RPC_TIMEOUT)                       # still the default budget
        srv.maps.Free(pb.FreeMapRequest(map_id=made), timeout=RPC_TIMEOUT)
        cfg.write_text(_config([copy], "objects: 2, map_memory_bytes: 2MiB"))
        srv.svc.Reload(pb.ReloadRequest(), timeout=60)
        err = rpc_error(lambda: srv.maps.Create(req, timeout=RPC_TIMEOUT))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "limits.map_memory_bytes" in err.details()
