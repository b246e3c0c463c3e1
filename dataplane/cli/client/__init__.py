"""Client objects of ``dataplane remote`` / ``dataplane --server ADDR``: one module per object.

Each module here names one object (``OBJECT = "prog"``), adds its parser
(``register(what)``: what is the OBJECT subparsers of ``remote``) and runs
it (``run(args, channel, out)``); ``client_cmd`` finds them by listing this
package, so a new service's client is one new module. What they share is
here: the call wrapper that turns a gRPC error back into the DataplaneError
the server mapped it from, JSON output, hex parsing.
"""
from __future__ import annotations

import errno
import importlib
import pkgutil

TIMEOUT = 30.0


def modules() -> list:
    """The client object modules, in name order."""
    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name) if not m.name.startswith("_")]


def hexbytes(text: str) -> bytes:
    from dataplane.errors import DataplaneError
    try:
        return bytes.fromhex(text.replace("0x", "").replace(":", " "))
    except ValueError as exc:
        raise DataplaneError(f"bad hex bytes {text!r}: {exc}") from exc


def translate(exc):
    """grpc.RpcError -> the DataplaneError the server mapped it from."""
    from dataplane.errors import DataplaneError, VerifierError
    from dataplane.service.errors import ERRNO_KEY, VERIFIER_LOG_KEY
    md = dict(exc.trailing_metadata() or ())
    if VERIFIER_LOG_KEY in md:
        return VerifierError(exc.details(), md[VERIFIER_LOG_KEY].decode("utf-8", "replace"))
    if exc.code().name == "UNAVAILABLE":
        return DataplaneError(f"UNAVAILABLE: no dataplane service answers ({exc.details()})",
                              kind=errno.ECONNREFUSED)
    return DataplaneError(f"{exc.code().name}: {exc.details()}", kind=int(md.get(ERRNO_KEY, errno.EIO)))


def call(fn, request):
    """A unary call with the client timeout; errors as DataplaneErrors."""
    import grpc
    try:
        return fn(request, timeout=TIMEOUT)
    except grpc.RpcError as exc:
        raise translate(exc) from None


def stream(fn, request, timeout: float | None = TIMEOUT):
    """The messages of a server-streaming call; errors as DataplaneErrors."""
    import grpc
    try:
        yield from fn(request, timeout=timeout)
    except grpc.RpcError as exc:
        raise translate(exc) from None


def as_dict(msg) -> dict:
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def counts(d) -> str:
    """Verdict counts in the order the tools print them, zeros left out."""
    from dataplane.abi.xdp import DISPLAY_ORDER
    return " ".join(f"{k} {d[k]}" for k in DISPLAY_ORDER if d.get(k))
