"""Replay: pcap traces played through a hook on the server (start, watch, stop, list)."""
from __future__ import annotations

import asyncio
import time

from dataplane.errors import DataplaneError
from dataplane.service.config import SAMPLE_SCHEME, VERDICT_NAMES
from dataplane.service.errors import guard, guard_stream
from dataplane.service.paths import PathPolicy, default_policy
from dataplane.service.protos import pb, rpc
from dataplane.service.replays import ReplaySet

DEFAULT_WATCH_MS = 500
MIN_WATCH_MS = 20


def replay_status(entry, final: bool = False) -> pb.ReplayStatus:
    return pb.ReplayStatus(final=final, **entry.status())


class Replay(rpc.ReplayServicer):
    def __init__(self, replays: ReplaySet, paths: PathPolicy | None = None):
        self.replays = replays
        self.paths = paths if paths is not None else default_policy()

    @guard
    async def Start(self, request, context):
        o = request.outputs
        outputs = {k: getattr(o, k) for k in VERDICT_NAMES}     # `pass` is a Python keyword
        # the service runs as root: a client may only read traces from, and
        # create/truncate outputs in, the configured directories; the
        # resolved paths are what gets opened
        outputs = {k: self.paths.check_write(v, f"output {k}") for k, v in outputs.items()}
        pcap = request.pcap
        if not pcap.startswith(SAMPLE_SCHEME):
            pcap = self.paths.check_read(pcap, "pcap")
        loop = request.loop if request.loop != 0 else 1
        e = await asyncio.to_thread(self.replays.start, request.hook, pcap, loop=loop, outputs=outputs,
                                    name=request.name, rate=request.rate or "max",
                                    speed=request.speed or None, ifindexes=dict(request.ifindexes) or None,
                                    workers=request.workers or 1, deterministic=_order(request.order),
                                    origin="client")
        return replay_status(e)

    @guard_stream
    async def Watch(self, request, context):
        e = self.replays.get(request.id)
        interval = max(request.interval_ms or DEFAULT_WATCH_MS, MIN_WATCH_MS) / 1000.0
        while e.running:
            yield replay_status(e)
            deadline = time.monotonic() + interval
            while e.running and time.monotonic() < deadline:
                await asyncio.sleep(min(0.02, interval))
        yield replay_status(e, final=True)

    @guard
    async def Stop(self, request, context):
        e = await asyncio.to_thread(self.replays.stop, request.id)
        return replay_status(e, final=True)

    @guard
    async def List(self, request, context):
        return pb.ListReplaysResponse(replays=[replay_status(e, final=not e.running) for e in self.replays.list()])


def register(server, app, serving) -> None:
    rpc.add_ReplayServicer_to_server(Replay(app.replays, app.paths), server)


def _order(order: str) -> bool | None:
    """StartReplayRequest.order -> Replay(deterministic=)."""
    if order in ("", "default"):
        return None
    if order in ("deterministic", "free"):
        return order == "deterministic"
    raise DataplaneError(f"order {order!r}: expected deterministic, free or empty (the default)")
