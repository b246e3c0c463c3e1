"""grpc.aio servicers: one module per service of proto/dataplane/v1/.

Every module here defines its servicer(s) and ``register(server, app,
serving)``; :func:`add_all` finds the modules by listing this package, so a
new service is one new module (plus its .proto and its client module) and no
edit anywhere else. Servicers are thin translation between protobuf messages
and the App (service/app.py): every handler is wrapped in
``service.errors.guard`` and nothing blocking runs on the event loop.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass


@dataclass(frozen=True)
class Serving:
    """What the server listens on, for Service.Info."""

    grpc_address: str = ""
    metrics_address: str = ""


def modules() -> list:
    """The servicer modules, in name order."""
    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name) if not m.name.startswith("_")]


def add_all(server, app, grpc_address: str = "", metrics_address: str = "") -> None:
    """Every dataplane.v1 service of ``app`` (service.app.App) on ``server``."""
    serving = Serving(grpc_address, metrics_address)
    for mod in modules():
        mod.register(server, app, serving)
