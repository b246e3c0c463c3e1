"""Malformed requests are INVALID_ARGUMENT, not UNKNOWN.

grpc's asyncio server parses a request before any handler runs and answers
a parse failure (corrupt wire format, a string field that is not UTF-8)
with UNKNOWN "Unexpected <class 'DecodeError'>" -- the code for a server
bug. The fuzz corpus of raw requests (tests/test_fuzz_service.py) found
it. This interceptor takes the parsing over: the handler gets the raw
bytes, parses them with the method's own deserializer, and a failure is
INVALID_ARGUMENT naming the request type and the parser's reason. It must
be the outermost interceptor: the ones inside it get parsed messages.
"""
from __future__ import annotations

import grpc
from google.protobuf.message import DecodeError


def _parse(deserialize, raw: bytes):
    try:
        return deserialize(raw), ""
    except DecodeError as exc:
        return None, str(exc)[:200] or "malformed message"


class DecodeInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None or handler.request_streaming:
            return handler
        deserialize, method = handler.request_deserializer, details.method

        async def bad(context, why: str):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{method}: malformed request: {why}")

        if handler.unary_unary:
            inner = handler.unary_unary

            async def uu(raw, context):
                req, why = _parse(deserialize, raw)
                if why:
                    await bad(context, why)
                return await inner(req, context)
            return grpc.unary_unary_rpc_method_handler(uu, None, handler.response_serializer)
        if handler.unary_stream:
            inner_s = handler.unary_stream

            async def us(raw, context):
                req, why = _parse(deserialize, raw)
                if why:
                    await bad(context, why)
                async for item in inner_s(req, context):
                    yield item
            return grpc.unary_stream_rpc_method_handler(us, None, handler.response_serializer)
        return handler
