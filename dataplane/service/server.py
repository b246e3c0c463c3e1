"""The service process: App (registry, hooks, replays) + gRPC (asyncio) +
health + reflection + metrics.

Start order: apply the config (load, verify, fill maps, build chains — any
error exits before listening), bind metrics and gRPC, start the configured
replays, report.  Shutdown: health NOT_SERVING, stop gRPC with a grace
period, cancel replays (their output files are flushed), stop metrics.

``run(cfg)`` blocks until SIGINT/SIGTERM.  Once both listeners are bound it
prints one line on stdout,

    dataplane serving grpc=127.0.0.1:50051 metrics=127.0.0.1:9464

with the *bound* addresses, so a supervisor (or a test) can ask for port 0
and learn the port without racing another process for it.
"""
from __future__ import annotations

import asyncio
import errno
import signal
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from dataplane.errors import DataplaneError
from dataplane.service import metrics, rpc
from dataplane.service.app import App
from dataplane.service.config import Config, parse_address
from dataplane.service.protos import SERVICE_NAMES

GRACE_SECONDS = 2.0


async def serve(cfg: Config, *, stop: asyncio.Event | None = None) -> None:
    # Programs, maps and hooks are set up before anything listens, so a bad
    # config exits without ever serving; replays start once both listeners
    # are bound (a port clash must not leave a replay thread behind).
    app = App(verify=cfg.verifier, engine=cfg.engine, paths=cfg.path_policy())
    app.apply(cfg, start=False)
    stop = stop or asyncio.Event()

    httpd = None
    metrics_addr = ""
    if cfg.metrics_enabled:
        mhost, mport = parse_address(cfg.metrics_listen, "metrics address")
        try:
            httpd, mport = metrics.start(app, mhost, mport)
        except OSError as exc:
            raise DataplaneError(f"metrics listen {cfg.metrics_listen}: {exc.strerror or exc}",
                                 kind=exc.errno or 0) from exc
        metrics_addr = f"{mhost}:{mport}"

    # grpc enables SO_REUSEPORT by default: a second server on the same port
    # would start "successfully" and steal half the calls. Refuse instead.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    ghost, gport = parse_address(cfg.grpc_listen, "gRPC address")
    try:
        bound = server.add_insecure_port(f"{ghost}:{gport}" if ":" not in ghost else f"[{ghost}]:{gport}")
    except RuntimeError as exc:   # grpc reports bind failures this way
        raise DataplaneError(f"gRPC listen {cfg.grpc_listen}: {exc}", kind=errno.EADDRINUSE) from exc
    grpc_addr = f"{ghost}:{bound}"
    rpc.add_all(server, app, grpc_addr, metrics_addr)

    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = SERVICE_NAMES + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                       reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)

    await server.start()
    try:
        app.start_replays(cfg)
    except DataplaneError:
        await server.stop(None)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        raise
    for name in ("",) + SERVICE_NAMES:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    print(f"dataplane serving grpc={grpc_addr} metrics={metrics_addr or 'off'}", flush=True)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        await stop.wait()
    finally:
        # NOT_SERVING first so load balancers drain, then stop accepting.
        await health.enter_graceful_shutdown()
        await server.stop(GRACE_SECONDS)
        await asyncio.to_thread(app.close)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()


def check(cfg: Config) -> int:
    """`serve --check`: apply the config (load, verify, fill maps, build chains, check
    replay inputs) without listening or replaying; 0 when it would start."""
    try:
        app = App(verify=cfg.verifier, engine=cfg.engine)
        app.apply(cfg, start=False)
    except DataplaneError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"{cfg.path or 'config'}: ok: {len(app.reg.progs)} programs, {len(app.reg.maps)} maps, "
          f"{len(app.hooks.names())} hooks, {len(cfg.replays)} replays")
    return 0


def run(cfg: Config) -> int:
    try:
        asyncio.run(serve(cfg))
    except DataplaneError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0
