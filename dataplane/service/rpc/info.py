"""Service.Info: what is serving (version, uptime, addresses, counts, kernel)."""
from __future__ import annotations

import asyncio
import time

import dataplane
from dataplane.abi import kernel
from dataplane.loader import kernel_probe
from dataplane.service.errors import guard
from dataplane.service.protos import pb, rpc


def _differences() -> list[str]:
    # asked of the kernel once per process (a few ms after the first time)
    return kernel_probe.everything().differences()


class Service(rpc.ServiceServicer):
    def __init__(self, app, grpc_address: str = "", metrics_address: str = ""):
        self.app = app
        self.reg = app.reg
        self.grpc_address = grpc_address
        self.metrics_address = metrics_address

    @guard
    async def Info(self, request, context):
        n_progs, maps = self.reg.snapshot()
        with self.app.replays.lock:
            entries = list(self.app.replays.replays.values())
        return pb.InfoResponse(version=dataplane.__version__, uptime_seconds=time.time() - self.reg.started,
                               programs_loaded=n_progs, maps_loaded=len(maps), grpc_address=self.grpc_address,
                               metrics_address=self.metrics_address, verifier_enabled=self.reg.verify,
                               kernel_modelled=kernel.MODELLED, kernel_running=kernel.running(),
                               kernel_differences=await asyncio.to_thread(_differences),
                               hooks=len(self.app.hooks.names()), replays=len(entries),
                               replays_running=sum(1 for e in entries if e.running))

    @guard
    async def Reload(self, request, context):
        from dataplane.service.reload import reload
        res = await asyncio.to_thread(reload, self.app)
        return pb.ReloadResponse(changes=res.changes, notes=res.notes, generation=res.generation,
                                 config_path=self.app.running.cfg.path)


def register(server, app, serving) -> None:
    rpc.add_ServiceServicer_to_server(Service(app, serving.grpc_address, serving.metrics_address), server)
