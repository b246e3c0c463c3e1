"""The service process: App (registry, hooks, replays) + gRPC (asyncio) +
health + reflection + metrics.

Start order: apply the config (load, verify, fill maps, build chains — any
error exits before listening), bind metrics and gRPC, start the configured
replays, report.  Shutdown: health NOT_SERVING, stop gRPC with a grace
period, cancel replays (their output files are flushed), the last state
snapshot (with a state_dir), stop metrics -- all within the shutdown
timeout (state.shutdown_timeout).

``run(cfg)`` blocks until SIGINT/SIGTERM.  Once both listeners are bound it
prints one line on stdout,

    dataplane serving grpc=127.0.0.1:50051 metrics=127.0.0.1:9464

with the *bound* addresses, so a supervisor (or a test) can ask for port 0
and learn the port without racing another process for it.
"""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from dataplane.errors import DataplaneError
from dataplane.service import metrics, reload, rpc
from dataplane.service.app import App
from dataplane.service.config import Config, parse_address
from dataplane.service.protos import SERVICE_NAMES

GRACE_SECONDS = 2.0
SWITCH_INTERVAL = 0.0005    # seconds (CPython's default: 0.005)
SHUTDOWN_SECONDS = 10.0     # SIGTERM to exit, at most (a stuck verification or source must not hold it)


def _listen(server, host: str, port: int, creds) -> int:
    addr = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    return server.add_secure_port(addr, creds) if creds is not None else server.add_insecure_port(addr)


def _policy(cfg: Config):
    from dataplane.service.auth import AuthConfig, Policy
    return Policy(cfg.auth or AuthConfig(), mtls=bool(cfg.tls is not None and cfg.tls.mtls))


def _check_exposure(cfg: Config, policy) -> None:
    """A non-loopback listener without authentication refuses to start (unless --insecure)."""
    from dataplane.service.tls import check_exposure
    ghost, _ = parse_address(cfg.grpc_listen, "gRPC address")
    check_exposure("gRPC", cfg.grpc_listen, ghost, policy.enabled, cfg.insecure)
    if cfg.metrics_enabled:
        mhost, _ = parse_address(cfg.metrics_listen, "metrics address")
        authed = cfg.metrics_basic is not None or policy.cfg.configured or \
            bool(cfg.metrics_tls is not None and cfg.metrics_tls.mtls)
        check_exposure("metrics", cfg.metrics_listen, mhost, authed, cfg.insecure)


def _build_app(cfg: Config):
    """(app, persister): with a state_dir the state comes back from it, else from the config
    (service/persist/lifecycle.py)."""
    from dataplane.service.limits import Limits
    from dataplane.service.persist import lifecycle
    return lifecycle.build(cfg, lambda: App(verify=cfg.verifier, engine=cfg.engine, paths=cfg.path_policy(),
                                            limits=cfg.limits or Limits()))


async def serve(cfg: Config, *, stop: asyncio.Event | None = None, watch: float = 0.0) -> None:
    # Programs, maps and hooks are set up before anything listens, so a bad
    # config exits without ever serving; replays start once both listeners
    # are bound (a port clash must not leave a replay thread behind).
    policy = _policy(cfg)
    _check_exposure(cfg, policy)
    # Loads verify on threads (service/verifypool.py): a CPU-bound thread keeps the GIL for the
    # whole switch interval each time the event loop asks for it, and the default 5 ms, with the
    # several hand-overs one RPC needs, let a slow load delay other calls by 100s of ms.
    sys.setswitchinterval(SWITCH_INTERVAL)
    app, persister = _build_app(cfg)
    app.policy = policy           # a reload swaps its tokens (service/reload.py)
    stop = stop or asyncio.Event()
    limits = app.limits

    httpd = None
    metrics_addr = ""
    if cfg.metrics_enabled:
        mhost, mport = parse_address(cfg.metrics_listen, "metrics address")
        from dataplane.service.tls import ssl_context
        try:
            httpd, mport = metrics.start(app, mhost, mport,
                                         ssl_context=ssl_context(cfg.metrics_tls) if cfg.metrics_tls else None,
                                         basic=cfg.metrics_basic, policy=policy)
        except OSError as exc:
            raise DataplaneError(f"metrics listen {cfg.metrics_listen}: {exc.strerror or exc}",
                                 kind=exc.errno or 0) from exc
        metrics_addr = f"{mhost}:{mport}"

    from dataplane.service.auth import AuthInterceptor
    from dataplane.service.interceptors import LimitsInterceptor
    # grpc enables SO_REUSEPORT by default: a second server on the same port
    # would start "successfully" and steal half the calls. Refuse instead.
    from dataplane.service.decode import DecodeInterceptor
    from dataplane.service.persist.interceptor import CommitInterceptor
    app.name_limiter = LimitsInterceptor(limits.name_bytes)     # a reload sets its limit (limits_apply.py)
    server = grpc.aio.server(
        # DecodeInterceptor first: it parses the request for every layer below it (they get messages)
        interceptors=[DecodeInterceptor(), AuthInterceptor(policy), app.name_limiter,
                      CommitInterceptor(persister)],
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", limits.message_bytes),
                 ("grpc.max_send_message_length", limits.message_bytes)])
    ghost, gport = parse_address(cfg.grpc_listen, "gRPC address")
    from dataplane.service.tls import grpc_credentials
    try:
        bound = _listen(server, ghost, gport, grpc_credentials(cfg.tls) if cfg.tls is not None else None)
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
    health_server, health_addr = None, ""
    try:
        if cfg.health_listen:
            health_server, health_addr = await _health_listener(cfg.health_listen, health)
        app.start_replays(cfg)
    except DataplaneError:
        await server.stop(None)
        if health_server is not None:
            await health_server.stop(None)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        raise
    for name in ("",) + SERVICE_NAMES:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    if persister is not None:
        persister.start()
    reload.remember(app, cfg)
    print(f"dataplane serving grpc={grpc_addr} metrics={metrics_addr or 'off'}"
          f"{' tls=on' if cfg.tls is not None else ''}{f' health={health_addr}' if health_addr else ''}",
          flush=True)

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload.on_sighup(app)))
    except (NotImplementedError, RuntimeError):
        pass
    watcher = asyncio.ensure_future(reload.watch(app, watch)) if watch > 0 and cfg.path else None
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        # state.shutdown_timeout: drain the sources, snapshot and exit within it
        timeout = cfg.state.shutdown_timeout if cfg.state is not None else SHUTDOWN_SECONDS
        watchdog = _Watchdog(timeout)
        # NOT_SERVING first so load balancers drain, then stop accepting.
        await health.enter_graceful_shutdown()
        app.loads.close()          # a verification in flight must not hold SIGTERM
        await server.stop(min(GRACE_SECONDS, timeout / 4))
        if health_server is not None:
            await health_server.stop(None)
        from dataplane.service.persist import lifecycle
        await asyncio.to_thread(lifecycle.stop, app, persister)
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        watchdog.cancel()


async def _health_listener(addr: str, health):
    """health.listen / serve --health: the same health service (NOT_SERVING at shutdown alike), alone
    on a plain-text port, for probes that speak no TLS (the kubelet's gRPC probes). It answers
    SERVING/NOT_SERVING and nothing else: no other service, no reflection, no credentials asked."""
    host, port = parse_address(addr, "health address")
    hs = grpc.aio.server(options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4096)])
    health_pb2_grpc.add_HealthServicer_to_server(health, hs)
    try:
        bound = _listen(hs, host, port, None)
    except RuntimeError as exc:
        raise DataplaneError(f"health listen {addr}: {exc}", kind=errno.EADDRINUSE) from exc
    await hs.start()
    return hs, f"{host}:{bound}"


class _Watchdog:
    """Exit the process if shutdown takes longer than ``timeout`` seconds
    (a stuck source or disk must not keep a SIGTERMed service alive)."""

    def __init__(self, timeout: float):
        import threading
        self._done = threading.Event()
        self._t = threading.Thread(target=self._run, args=(timeout,), daemon=True, name="dataplane-shutdown")
        self._t.start()

    def _run(self, timeout: float) -> None:
        if not self._done.wait(timeout):
            print(f"dataplane: shutdown took longer than {timeout:g} s; exiting now", file=sys.stderr, flush=True)
            os._exit(3)

    def cancel(self) -> None:
        self._done.set()


def check(cfg: Config) -> int:
    """`serve --check`: apply the config (load, verify, fill maps, build chains, check
    replay inputs) without listening or replaying; 0 when it would start."""
    try:
        _check_exposure(cfg, _policy(cfg))
        from dataplane.service.limits import Limits
        app = App(verify=cfg.verifier, engine=cfg.engine, limits=cfg.limits or Limits())
        app.apply(cfg, start=False)
    except DataplaneError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print(f"{cfg.path or 'config'}: ok: {len(app.reg.progs)} programs, {len(app.reg.maps)} maps, "
          f"{len(app.hooks.names())} hooks, {len(cfg.replays)} replays")
    return 0


def run(cfg: Config, *, watch: float = 0.0) -> int:
    try:
        asyncio.run(serve(cfg, watch=watch))
    except DataplaneError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    return 0
