"""The service process: registry + gRPC (asyncio) + health + reflection + metrics.

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
from dataplane.service import metrics, servicers
from dataplane.service.config import Config, ConfigError, parse_address
from dataplane.service.state import Registry

GRACE_SECONDS = 2.0


def load_configured(reg: Registry, cfg: Config) -> None:
    """Load the config's programs; an error names the config line of the entry."""
    for pc in cfg.programs:
        try:
            reg.load(pc.object, program=pc.program, name=pc.name)
        except DataplaneError as exc:
            raise ConfigError(cfg.path, pc.line, f"loading {pc.object}: {exc}") from exc


async def serve(cfg: Config, reg: Registry | None = None, *, stop: asyncio.Event | None = None) -> None:
    reg = reg or Registry(verify=cfg.verifier)
    load_configured(reg, cfg)
    stop = stop or asyncio.Event()

    httpd = None
    metrics_addr = ""
    if cfg.metrics_enabled:
        mhost, mport = parse_address(cfg.metrics_listen, "metrics address")
        try:
            httpd, mport = metrics.start(reg, mhost, mport)
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
    servicers.add_all(server, reg, grpc_addr, metrics_addr)

    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = servicers.SERVICE_NAMES + (health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                       reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)

    await server.start()
    for name in ("",) + servicers.SERVICE_NAMES:
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
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()


def run(cfg: Config) -> int:
    try:
        asyncio.run(serve(cfg))
    except DataplaneError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0
