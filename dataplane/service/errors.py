"""The ONE place where dataplane error kinds become gRPC status codes.

Servicers raise (or let through) :class:`~dataplane.errors.DataplaneError`;
every handler is wrapped in :func:`guard` (:func:`guard_stream` for
streaming ones), and :func:`abort_with` turns the error into a status on the
call.  A verifier rejection
is INVALID_ARGUMENT like any bad input, but its full log travels in the
trailing metadata key :data:`VERIFIER_LOG_KEY` (bytes) (the status message only holds
the one-line summary, which is what a kernel user sees from libbpf too).

Choices worth knowing:

* ESTALE (a hook edit whose expected_revision no longer matches, as
  bpf_mprog reports it) is ABORTED, not FAILED_PRECONDITION: gRPC reserves
  ABORTED for concurrency conflicts that a client resolves by re-reading and
  retrying the whole read-modify-write, which is exactly the remedy here;
  FAILED_PRECONDITION means "the system is not in a state for this" and
  retrying will not help until someone else changes it (EBUSY: detach first).
* A full map (E2BIG from BPF_ANY/BPF_NOEXIST updates, as the kernel returns
  it) and a full conntrack table (ENOSPC/ENOMEM) are RESOURCE_EXHAUSTED.
* EACCES is overloaded, as in the kernel: a verifier rejection
  (:class:`~dataplane.errors.VerifierError`, or any EACCES from loading)
  stays INVALID_ARGUMENT; :class:`~dataplane.errors.PermissionDenied` (a
  path outside the service's allowed directories) is PERMISSION_DENIED,
  like EPERM.
* Malformed input files (a truncated pcap: EINVAL/EIO with the offset in the
  message) are INVALID_ARGUMENT / INTERNAL by their kind.
"""
from __future__ import annotations

import asyncio
import errno
import functools
import logging

import grpc

from dataplane.errors import DataplaneError, PermissionDenied, VerifierError

# "-bin" keys carry raw bytes, so the multi-line log needs no escaping.
VERIFIER_LOG_KEY = "dataplane-verifier-log-bin"
ERRNO_KEY = "dataplane-errno"
# gRPC metadata values must stay well below the default 8 KiB header limit;
# a verifier log beyond this is cut at the start (the error is at the end).
MAX_LOG_METADATA = 6000

ENOTSUPP = 524   # the kernel-internal errno bpf() returns for unsupported map ops (not in Python's errno)

_CODES = {
    errno.EINVAL: grpc.StatusCode.INVALID_ARGUMENT,
    errno.EACCES: grpc.StatusCode.INVALID_ARGUMENT,   # verifier rejection: the program is the bad argument
    errno.EPERM: grpc.StatusCode.PERMISSION_DENIED,
    errno.ENOENT: grpc.StatusCode.NOT_FOUND,
    errno.ENODEV: grpc.StatusCode.NOT_FOUND,          # no such interface
    errno.EMSGSIZE: grpc.StatusCode.INVALID_ARGUMENT, # an interface MTU larger than the frame
    errno.EEXIST: grpc.StatusCode.ALREADY_EXISTS,
    errno.E2BIG: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errno.ENOSPC: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errno.ENOMEM: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errno.EBUSY: grpc.StatusCode.FAILED_PRECONDITION,
    errno.ESTALE: grpc.StatusCode.ABORTED,            # stale hook revision: re-read, retry
    errno.ECANCELED: grpc.StatusCode.CANCELLED,
    errno.ETIMEDOUT: grpc.StatusCode.DEADLINE_EXCEEDED,   # a load past its deadline (service/verifypool.py)
    errno.EAGAIN: grpc.StatusCode.RESOURCE_EXHAUSTED,     # a full queue: retry later
    errno.EISDIR: grpc.StatusCode.INVALID_ARGUMENT,
    errno.ENOTSUP: grpc.StatusCode.UNIMPLEMENTED,
    ENOTSUPP: grpc.StatusCode.UNIMPLEMENTED,          # e.g. get_next_key on a queue map
    # hook edits (bpf_mprog's vocabulary)
    errno.ENODEV: grpc.StatusCode.NOT_FOUND,          # no such hook (the kernel: no such device)
    errno.ERANGE: grpc.StatusCode.OUT_OF_RANGE,       # position rules disagree / the 64th program
    errno.ENOLINK: grpc.StatusCode.FAILED_PRECONDITION,   # a defunct link: its hook is gone
    errno.EBADF: grpc.StatusCode.INVALID_ARGUMENT,    # a relative object that is no handle
}


def status_code(kind: int) -> grpc.StatusCode:
    """gRPC status for an errno-like kind; INTERNAL for anything unmapped."""
    return _CODES.get(kind, grpc.StatusCode.INTERNAL)


def details(exc: DataplaneError) -> tuple[grpc.StatusCode, str, tuple]:
    """(code, message, trailing metadata) for an error."""
    md = [(ERRNO_KEY, str(exc.kind))]
    if isinstance(exc, VerifierError) and exc.log:
        log = exc.log[-MAX_LOG_METADATA:]
        md.append((VERIFIER_LOG_KEY, log.encode("utf-8", "replace")))
    code = status_code(exc.kind)
    if isinstance(exc, PermissionDenied):
        code = grpc.StatusCode.PERMISSION_DENIED
    return code, str(exc), tuple(md)


async def abort_with(context, exc: DataplaneError):
    """Abort an aio call with the mapped status; never returns."""
    code, message, md = details(exc)
    context.set_trailing_metadata(md)
    await context.abort(code, message)


log = logging.getLogger("dataplane.service")


async def _fail(context, fn, exc: Exception):
    if isinstance(exc, DataplaneError):
        await abort_with(context, exc)
    log.exception("internal error in %s", fn.__name__)   # a bug: say so, keep serving
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")


def guard(fn):
    """Wrap a unary servicer method: a DataplaneError becomes its mapped
    status, anything unexpected INTERNAL (logged) rather than grpc's opaque
    UNKNOWN; the server keeps serving either way."""
    @functools.wraps(fn)
    async def wrapper(self, request, context):
        try:
            return await fn(self, request, context)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await _fail(context, fn, exc)
    return wrapper


def guard_stream(fn):
    """guard() for a server-streaming method (an async generator)."""
    @functools.wraps(fn)
    async def wrapper(self, request, context):
        try:
            async for item in fn(self, request, context):
                yield item
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:
            await _fail(context, fn, exc)
    return wrapper
