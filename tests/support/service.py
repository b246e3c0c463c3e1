"""Shared driving code for the tests of the real `dataplane serve` process
(tests/test_service_*.py): start it, wait for its bound addresses, hold the
gRPC stubs, scrape its metrics, and ping its health while something heavy runs.

The server binds port 0 and prints its bound addresses, so no port races.
"""
from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import ROOT
from dataplane.service.protos import rpc

STARTUP_TIMEOUT = 60.0
RPC_TIMEOUT = 30.0
# gRPC and metrics both on an ephemeral port: the usual arguments to served()
PORT_0 = ("--grpc", "127.0.0.1:0", "--metrics", "127.0.0.1:0")


class Server:
    def __init__(self, proc, grpc_addr, metrics_addr, lines):
        self.proc, self.grpc, self.metrics, self.lines = proc, grpc_addr, metrics_addr, lines
        self.channel = grpc.insecure_channel(grpc_addr)
        self.progs = rpc.ProgramsStub(self.channel)
        self.maps = rpc.MapsStub(self.channel)
        self.hooks = rpc.HooksStub(self.channel)
        self.replay = rpc.ReplayStub(self.channel)
        self.ct = rpc.ConntrackStub(self.channel)
        self.svc = rpc.ServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)


def start_server(*extra: str, allow_tmp: bool = True) -> tuple[subprocess.Popen, "queue.Queue[str]"]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    if allow_tmp:
        # tests hand the server pytest tmp_path files: let clients read and
        # write under the temp dir (the path policy itself: test_service_paths)
        tmp = tempfile.gettempdir()
        extra = (*extra, "--allow-read", tmp, "--allow-write", tmp)
    proc = subprocess.Popen([sys.executable, "-m", "dataplane", "serve", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put("")   # EOF marker
    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_ready(proc, lines) -> tuple[str, str]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("dataplane serving"):
            fields = dict(f.split("=", 1) for f in line.split()[2:])
            return fields["grpc"], fields["metrics"]
        if line == "" and proc.poll() is not None:
            break
    raise AssertionError(f"server did not start (rc={proc.poll()}):\n{''.join(seen)}")


def stop(proc) -> int:
    """SIGTERM (graceful), SIGKILL if that hangs; returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    return proc.returncode


@contextlib.contextmanager
def served(*args: str) -> Iterator[Server]:
    """A started, connected server for the block (module fixtures yield it);
    stopped afterwards even when startup failed half-way."""
    proc, lines = start_server(*args)
    srv = None
    try:
        g, m = wait_ready(proc, lines)
        srv = Server(proc, g, m, lines)
        grpc.channel_ready_future(srv.channel).result(timeout=RPC_TIMEOUT)
        yield srv
    finally:
        if srv is not None:
            srv.channel.close()
        stop(proc)


@contextlib.contextmanager
def served_in(d) -> Iterator[Server]:
    """A server on loopback ports whose file access is confined to folder ``d``
    (its config is written there); ``srv.dir`` is ``d``."""
    cfg = d / "srv.yaml"
    cfg.write_text(f"grpc: {{listen: '127.0.0.1:0'}}\nmetrics: {{listen: '127.0.0.1:0'}}\n"
                   f"paths: {{read: ['{d}'], write: ['{d}']}}\n")
    with served("--config", str(cfg)) as srv:
        srv.dir = d
        yield srv


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as ei:
        call()
    return ei.value


def scrape(server) -> str:
    with urllib.request.urlopen(f"http://{server.metrics}/metrics", timeout=RPC_TIMEOUT) as r:
        assert r.status == 200
        return r.read().decode()


def gauge(text: str, name: str, **labels) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    prefix = f"{name}{{{want}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


def serving(server) -> bool:
    r = server.health.Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
    return r.status == health_pb2.HealthCheckResponse.SERVING


@contextlib.contextmanager
def health_pings(server) -> Iterator[list[float]]:
    """Pings health every 5 ms in a thread for the block; yields the list the
    latencies (seconds) land in, complete once the block has left.  Work the
    server does on its event loop shows up as a stalled ping."""
    lat: list[float] = []
    done = threading.Event()

    def ping():
        while not done.is_set():
            t0 = time.monotonic()
            server.health.Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT)
            lat.append(time.monotonic() - t0)
            time.sleep(0.005)
    th = threading.Thread(target=ping)
    th.start()
    try:
        yield lat
    finally:
        done.set()
        th.join()
