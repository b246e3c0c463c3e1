"""grpc.aio servicers: thin translation between protobuf messages and the Registry.

Every handler goes through :func:`_guard`, so a DataplaneError anywhere below
becomes the status chosen in ``service/errors.py`` and anything unexpected is
INTERNAL (logged) rather than grpc's opaque UNKNOWN.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time

import grpc

import dataplane
from dataplane.abi import kernel
from dataplane.errors import DataplaneError
from dataplane.service.errors import abort_with
from dataplane.service.paths import default_policy
from dataplane.service.protos import pb, rpc
from dataplane.service.state import LoadedMap, LoadedProg, Registry

log = logging.getLogger("dataplane.service")

DEFAULT_DUMP_BATCH = 64
MAX_DUMP_BATCH = 4096
_UPDATE_FLAGS = {pb.UPDATE_FLAG_ANY: 0, pb.UPDATE_FLAG_NOEXIST: 1, pb.UPDATE_FLAG_EXIST: 2}


def _guard(fn):
    @functools.wraps(fn)
    async def wrapper(self, request, context):
        try:
            return await fn(self, request, context)
        except DataplaneError as exc:
            await abort_with(context, exc)
        except (grpc.aio.AbortError, asyncio.CancelledError):
            raise
        except Exception as exc:  # a bug: say so, keep serving
            log.exception("internal error in %s", fn.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
    return wrapper


def prog_info(p: LoadedProg, runs: tuple[int, int] = (0, 0)) -> pb.ProgramInfo:
    """``runs``: (run_cnt, run_time_ns) read from the native counters of the program's attachments."""
    return pb.ProgramInfo(
        id=p.id, name=p.name, type=p.type_name, type_id=p.spec.prog_type, insn_count=p.spec.insn_count,
        map_ids=p.map_ids, object_id=p.object_id, object_name=p.object_name, section=p.spec.section,
        license=p.spec.license, loaded_at_unix_ns=p.loaded_at_ns, run_cnt=runs[0],
        run_time_ns=runs[1], verified=p.verified, tag=p.tag)


def map_info(m: LoadedMap, entries: int) -> pb.MapInfo:
    return pb.MapInfo(id=m.id, name=m.name, type=m.type_name, type_id=m.spec.map_type, key_size=m.spec.key_size,
                      value_size=m.spec.value_size, max_entries=m.spec.max_entries, flags=m.spec.map_flags,
                      object_id=m.object_id, entries=entries)


class Programs(rpc.ProgramsServicer):
    def __init__(self, reg: Registry, runs=lambda prog_id: (0, 0), paths=None):
        self.reg = reg
        self.paths = paths if paths is not None else default_policy()
        self.runs = runs          # prog id -> (run_cnt, run_time_ns), from the hooks' native counters

    def info(self, p: LoadedProg) -> pb.ProgramInfo:
        return prog_info(p, self.runs(p.id))

    @_guard
    async def Load(self, request, context):
        which = request.WhichOneof("source")
        if which is None:
            raise DataplaneError("Load: set either object (bytes) or path")
        # a client-named file is read as root: only under the allowed read dirs
        source = request.object if which == "object" else self.paths.check_read(request.path, "object")
        # Parsing and verifying is CPU work: keep the event loop (health, other calls) responsive.
        res = await asyncio.to_thread(self.reg.load, source, program=request.program, name=request.name,
                                      log_level=request.log_level)
        obj = res.obj
        maps = [map_info(m, self.reg.map_entries(m)) for m in obj.maps.values()]
        return pb.LoadResponse(object_id=obj.id, programs=[self.info(p) for p in obj.programs.values()],
                               maps=maps, verifier_log=res.verifier_log)

    @_guard
    async def List(self, request, context):
        return pb.ListProgramsResponse(programs=[self.info(p) for p in self.reg.list_programs()])

    @_guard
    async def Get(self, request, context):
        return self.info(self.reg.program(request.id))

    @_guard
    async def Unload(self, request, context):
        return pb.UnloadResponse(object_id=self.reg.unload(request.id))


class Maps(rpc.MapsServicer):
    def __init__(self, reg: Registry):
        self.reg = reg

    @_guard
    async def List(self, request, context):
        return pb.ListMapsResponse(maps=[map_info(m, n) for m, n in
                                         sorted(self.reg.snapshot()[1], key=lambda t: t[0].id)])

    @_guard
    async def Lookup(self, request, context):
        return pb.LookupResponse(value=self.reg.lookup(request.map_id, request.key))

    @_guard
    async def Update(self, request, context):
        if request.flags not in _UPDATE_FLAGS:
            raise DataplaneError(f"Update: unknown flags value {request.flags}")
        self.reg.update(request.map_id, request.key, request.value, _UPDATE_FLAGS[request.flags])
        return pb.UpdateResponse()

    @_guard
    async def Delete(self, request, context):
        self.reg.delete(request.map_id, request.key)
        return pb.DeleteResponse()

    async def Dump(self, request, context):
        # A streaming handler cannot use _guard's return path; same mapping inline.
        try:
            self.reg.map(request.map_id)
            batch = min(request.batch_size or DEFAULT_DUMP_BATCH, MAX_DUMP_BATCH)
            remaining = request.limit or None
            after = request.start_after
            while True:
                want = batch if remaining is None else min(batch, remaining)
                entries, next_key = self.reg.dump(request.map_id, after, want)
                if remaining is not None:
                    remaining -= len(entries)
                done = not next_key or remaining == 0
                yield pb.DumpResponse(entries=[pb.Entry(key=k, value=v) for k, v in entries],
                                      next_key=next_key)
                if done:
                    return
                after = next_key
        except DataplaneError as exc:
            await abort_with(context, exc)


class Service(rpc.ServiceServicer):
    def __init__(self, reg: Registry, grpc_address: str = "", metrics_address: str = "", app=None):
        self.reg = reg
        self.app = app                # hook and replay counts (service.app.App)
        self.grpc_address = grpc_address
        self.metrics_address = metrics_address

    @_guard
    async def Info(self, request, context):
        n_progs, maps = self.reg.snapshot()
        return pb.InfoResponse(version=dataplane.__version__, uptime_seconds=time.time() - self.reg.started,
                               programs_loaded=n_progs, maps_loaded=len(maps), grpc_address=self.grpc_address,
                               metrics_address=self.metrics_address, verifier_enabled=self.reg.verify,
                               kernel_modelled=kernel.MODELLED, kernel_running=kernel.running(),
                               **self._flow_counts())

    def _flow_counts(self) -> dict:
        if self.app is None:
            return {}
        with self.app.replays.lock:
            entries = list(self.app.replays.replays.values())
        return {"hooks": len(self.app.hooks.names()), "replays": len(entries),
                "replays_running": sum(1 for e in entries if e.running)}


def add_all(server, app, grpc_address: str = "", metrics_address: str = "") -> Service:
    """Every dataplane.v1 service of ``app`` (service.app.App) on ``server``."""
    from dataplane.service.flow_servicers import add_flow
    reg = app.reg
    rpc.add_ProgramsServicer_to_server(Programs(reg, app.hooks.program_runs, app.paths), server)
    rpc.add_MapsServicer_to_server(Maps(reg), server)
    add_flow(server, reg, app.hooks, app.replays, app.paths)
    svc = Service(reg, grpc_address, metrics_address, app)
    rpc.add_ServiceServicer_to_server(svc, server)
    return svc


SERVICE_NAMES = tuple(s.full_name for s in pb.DESCRIPTOR.services_by_name.values())
