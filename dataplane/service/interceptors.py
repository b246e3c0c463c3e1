"""RPC layers every call passes, in order: auth (service/auth.py) -> request
limits -> the servicer.

* :class:`LimitsInterceptor`: every string field of a request (names, paths,
  at any depth) is at most ``limits.name_bytes`` and has no NUL byte, except the fields that
  carry documents (:data:`TEXT_FIELDS`, bounded by the message size), so no
  handler -- nor an error message that names the value -- ever sees a
  megabyte of name.
"""
from __future__ import annotations

import logging

import grpc
from google.protobuf.descriptor import FieldDescriptor


log = logging.getLogger("dataplane.service")

# (message, field) pairs that are documents, not names
TEXT_FIELDS = frozenset({("RestoreFilterRequest", "rules"), ("RestoreFilterRequest", "ipset")})


def _repeated(fd) -> bool:
    rep = getattr(fd, "is_repeated", None)          # protobuf >= 5.28 (label is gone in 6)
    return rep if rep is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def oversized(msg, limit: int, depth: int = 0) -> str | None:
    """'Message.field is N bytes' for the first string field over ``limit``, else None."""
    if depth > 8:
        return None
    name = msg.DESCRIPTOR.name
    for fd, value in msg.ListFields():
        if fd.type == FieldDescriptor.TYPE_STRING and (name, fd.name) not in TEXT_FIELDS:
            values = value if _repeated(fd) else (value,)
            for v in values:
                if len(v) > limit:
                    return f"{name}.{fd.name} is {len(v.encode())} bytes; the limit is {limit} (limits.name_bytes)"
                if "\0" in v:     # no name or path has one; open() would fail with a ValueError
                    return f"{name}.{fd.name} contains a NUL byte"
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            if fd.message_type.GetOptions().map_entry:
                items = value.items()
                for k, v in items:
                    if isinstance(k, str) and len(k) > limit:
                        return f"{name}.{fd.name} has a {len(k.encode())}-byte key; the limit is {limit} (limits.name_bytes)"
                    if isinstance(v, str) and len(v) > limit:
                        return (f"{name}.{fd.name}[{k[:32] if isinstance(k, str) else k}] is {len(v.encode())} "
                                f"bytes; the limit is {limit} (limits.name_bytes)")
                continue
            values = value if _repeated(fd) else (value,)
            for v in values:
                got = oversized(v, limit, depth + 1)
                if got:
                    return got
    return None


class LimitsInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, name_bytes: int):
        self.limit = name_bytes

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or not (handler.unary_unary or handler.unary_stream):
            return handler
        limit = self.limit
        inner_uu, inner_us = handler.unary_unary, handler.unary_stream

        async def check(request, context):
            why = oversized(request, limit)
            if why:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, why)
        if inner_uu:
            async def uu(request, context):
                await check(request, context)
                return await inner_uu(request, context)
            return grpc.unary_unary_rpc_method_handler(uu, handler.request_deserializer, handler.response_serializer)

        async def us(request, context):
            await check(request, context)
            async for item in inner_us(request, context):
                yield item
        return grpc.unary_stream_rpc_method_handler(us, handler.request_deserializer, handler.response_serializer)
