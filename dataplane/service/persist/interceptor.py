"""Commit before acknowledging: after every gRPC method that can change
state, the persister's commit() makes what changed durable in the
state_dir *before* the response goes out -- a change a client saw
acknowledged is on disk (a kill -9 right after the answer loses nothing).

A method that failed may still have changed something (a chain published
before a later step failed): it is committed too, then the error goes out.
"""
from __future__ import annotations

import asyncio
import logging

import grpc

log = logging.getLogger("dataplane.service.persist")

def changes_state(method: str) -> bool:
    """Can this full method name ('/pkg.Service/Method') change state? The admin role's methods
    (service/auth.py: one list of what only reads)."""
    from dataplane.service.auth import is_admin_method
    return is_admin_method(method)


class CommitInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, persister):
        self.persister = persister

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        method = details.method
        if handler is None or self.persister is None or not changes_state(method):
            return handler
        persister = self.persister

        async def commit(context, failed: bool) -> None:
            try:
                await asyncio.shield(asyncio.to_thread(persister.commit, method))
            except Exception as exc:   # disk full, ...: the client must not think it is saved
                log.error("state commit after %s failed: %s", method, exc)
                if not failed:
                    await context.abort(grpc.StatusCode.UNAVAILABLE,
                                        f"the change was applied but could not be saved to the state_dir: {exc}")

        if handler.unary_unary:
            inner = handler.unary_unary

            async def uu(request, context):
                try:
                    resp = await inner(request, context)
                except BaseException:
                    await commit(context, True)
                    raise
                await commit(context, False)
                return resp
            return grpc.unary_unary_rpc_method_handler(uu, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream:
            inner_s = handler.unary_stream

            async def us(request, context):
                try:
                    async for item in inner_s(request, context):
                        yield item
                except BaseException:
                    await commit(context, True)
                    raise
                await commit(context, False)
            return grpc.unary_stream_rpc_method_handler(us, handler.request_deserializer,
                                                        handler.response_serializer)
        return handler
