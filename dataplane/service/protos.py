"""The generated protobuf/gRPC modules, imported in one place.

Stubs are build output (``setup.py`` runs ``codegen.py``).  A checkout that
has not been built yet but has grpc_tools gets them generated on first use,
so ``dataplane serve`` works straight from a fresh tree.
"""
from __future__ import annotations

try:
    from dataplane.service._gen import dataplane_pb2 as pb, dataplane_pb2_grpc as rpc
except ImportError:  # not generated yet
    try:
        from dataplane.service import codegen
        codegen.generate()
    except Exception as exc:  # grpc_tools missing, protoc error, read-only tree
        raise ImportError(f"gRPC stubs missing and could not be generated ({exc}); "
                          "run `python setup.py build_ext --inplace`") from exc
    import importlib
    importlib.invalidate_caches()
    from dataplane.service._gen import dataplane_pb2 as pb, dataplane_pb2_grpc as rpc

__all__ = ["pb", "rpc"]
