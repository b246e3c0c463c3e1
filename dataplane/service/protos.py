"""The generated protobuf/gRPC modules (one per proto/dataplane/v1/*.proto), in one place.

``pb`` holds every message and enum of package dataplane.v1, ``rpc`` every
service's ``*Stub``, ``*Servicer`` and ``add_*_to_server``, whichever file
defines them; ``FILES`` the file descriptors and ``SERVICE_NAMES`` the full
service names (health and reflection list them). A new ``.proto`` shows up
here after the build generated it (setup.py runs protogen.py).
"""
from __future__ import annotations

import importlib
import types

from dataplane.service import _gen


def _load() -> tuple[types.SimpleNamespace, types.SimpleNamespace, tuple]:
    msgs, svcs, files = {}, {}, []
    for stem in _gen.MODULES:
        m = importlib.import_module(f"{_gen.__name__}.{stem}_pb2")
        g = importlib.import_module(f"{_gen.__name__}.{stem}_pb2_grpc")
        files.append(m.DESCRIPTOR)
        for name, value in vars(m).items():
            if name.startswith("_") or name == "DESCRIPTOR" or isinstance(value, types.ModuleType):
                continue
            if name in msgs:
                raise ImportError(f"dataplane.v1: {name} is defined twice ({stem}.proto and another file)")
            msgs[name] = value
        for name, value in vars(g).items():
            if name.endswith(("Stub", "Servicer")) or (name.startswith("add_") and name.endswith("_to_server")):
                svcs[name] = value
    return types.SimpleNamespace(**msgs), types.SimpleNamespace(**svcs), tuple(files)


pb, rpc, FILES = _load()
SERVICE_NAMES = tuple(s.full_name for f in FILES for s in f.services_by_name.values())

__all__ = ["pb", "rpc", "FILES", "SERVICE_NAMES"]
