"""Programs: load, list, show and unload ELF objects and their programs."""
from __future__ import annotations

import asyncio

from dataplane.errors import DataplaneError
from dataplane.service.errors import guard
from dataplane.service.paths import default_policy
from dataplane.service.protos import pb, rpc
from dataplane.service.rpc.maps import map_info
from dataplane.service.state import LoadedProg, Registry


def prog_info(p: LoadedProg, runs: tuple[int, int] = (0, 0)) -> pb.ProgramInfo:
    """``runs``: (run_cnt, run_time_ns) read from the native counters of the program's attachments."""
    return pb.ProgramInfo(
        id=p.id, name=p.name, type=p.type_name, type_id=p.spec.prog_type, insn_count=p.spec.insn_count,
        map_ids=p.map_ids, object_id=p.object_id, object_name=p.object_name, section=p.spec.section,
        license=p.spec.license, loaded_at_unix_ns=p.loaded_at_ns, run_cnt=runs[0],
        run_time_ns=runs[1], verified=p.verified, tag=p.tag)


class Programs(rpc.ProgramsServicer):
    def __init__(self, reg: Registry, runs=lambda prog_id: (0, 0), paths=None, pool=None):
        self.reg = reg
        self.pool = pool          # service/verifypool.VerifyPool (None: a plain thread)
        self.paths = paths if paths is not None else default_policy()
        self.runs = runs          # prog id -> (run_cnt, run_time_ns), from the hooks' native counters

    def info(self, p: LoadedProg) -> pb.ProgramInfo:
        return prog_info(p, self.runs(p.id))

    @guard
    async def Load(self, request, context):
        which = request.WhichOneof("source")
        if which is None:
            raise DataplaneError("Load: set either object (bytes) or path")
        # a client-named file is read as root: only under the allowed read dirs
        source = request.object if which == "object" else self.paths.check_read(request.path, "object")
        # Parsing and verifying is CPU work: off the event loop, bounded in number and time
        # (service/verifypool.py); a load the client gave up on is stopped or taken back.
        reg = self.reg

        def load(cancel):
            return reg.load(source, program=request.program, name=request.name, log_level=request.log_level,
                            prog_type=request.type, cancel=cancel)
        if self.pool is None:
            res = await asyncio.to_thread(load, None)
        else:
            res = await self.pool.run(load, timeout=context.time_remaining(),
                                      rollback=lambda r: reg.unload_object(r.obj.id))
        obj = res.obj
        maps = [map_info(m, self.reg.map_entries(m)) for m in obj.maps.values()]
        skipped = [pb.SkippedProgram(name=n, reason=why) for n, why in (res.skipped or {}).items()]
        return pb.LoadResponse(object_id=obj.id, programs=[self.info(p) for p in obj.programs.values()],
                               maps=maps, verifier_log=res.verifier_log, skipped=skipped)

    @guard
    async def List(self, request, context):
        return pb.ListProgramsResponse(programs=[self.info(p) for p in self.reg.list_programs()])

    @guard
    async def Get(self, request, context):
        return self.info(self.reg.program(request.id))

    @guard
    async def Unload(self, request, context):
        return pb.UnloadResponse(object_id=self.reg.unload(request.id))


def register(server, app, serving) -> None:
    rpc.add_ProgramsServicer_to_server(Programs(app.reg, app.hooks.program_runs, app.paths,
                                               getattr(app, "loads", None)), server)
