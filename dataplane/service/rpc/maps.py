"""Maps: the maps of loaded objects, bpftool-style (lookup, update, delete, dump), and maps
of their own (create, free) to store in map-in-map (the value is the inner map's id)."""
from __future__ import annotations

from dataplane.abi.maps import UPDATE_FLAGS
from dataplane.errors import DataplaneError
from dataplane.service.errors import guard, guard_stream
from dataplane.service.protos import pb, rpc
from dataplane.service.state import LoadedMap, Registry

DEFAULT_DUMP_BATCH = 64
MAX_DUMP_BATCH = 4096
# dataplane.v1.UpdateFlag -> BPF_* (the enum's values are the kernel's; a test checks)
_UPDATE_FLAGS = {pb.UpdateFlag.Value(f"UPDATE_FLAG_{name.upper()}"): v for name, v in UPDATE_FLAGS.items()}


def map_info(m: LoadedMap, entries: int) -> pb.MapInfo:
    return pb.MapInfo(id=m.id, name=m.name, type=m.type_name, type_id=m.spec.map_type, key_size=m.spec.key_size,
                      value_size=m.spec.value_size, max_entries=m.spec.max_entries, flags=m.spec.map_flags,
                      object_id=m.object_id, entries=entries)


class Maps(rpc.MapsServicer):
    def __init__(self, reg: Registry):
        self.reg = reg

    @guard
    async def List(self, request, context):
        return pb.ListMapsResponse(maps=[map_info(m, n) for m, n in
                                         sorted(self.reg.snapshot()[1], key=lambda t: t[0].id)])

    @guard
    async def Lookup(self, request, context):
        return pb.LookupResponse(value=self.reg.lookup(request.map_id, request.key, request.value))

    @guard
    async def Update(self, request, context):
        if request.flags not in _UPDATE_FLAGS:
            raise DataplaneError(f"Update: unknown flags value {request.flags}")
        self.reg.update(request.map_id, request.key, request.value, _UPDATE_FLAGS[request.flags])
        return pb.UpdateResponse()

    @guard
    async def Delete(self, request, context):
        self.reg.delete(request.map_id, request.key)
        return pb.DeleteResponse()

    @guard
    async def Create(self, request, context):
        lm = self.reg.create_map(inner_of=request.inner_of, map_type=request.type_id, key_size=request.key_size,
                                 value_size=request.value_size, max_entries=request.max_entries,
                                 flags=request.flags, name=request.name, map_extra=request.map_extra)
        return map_info(lm, self.reg.map_entries(lm))

    @guard
    async def Free(self, request, context):
        self.reg.free_map(request.map_id)
        return pb.FreeMapResponse()

    @guard_stream
    async def Dump(self, request, context):
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
            yield pb.DumpResponse(entries=[pb.Entry(key=k, value=v) for k, v in entries], next_key=next_key)
            if done:
                return
            after = next_key


def register(server, app, serving) -> None:
    rpc.add_MapsServicer_to_server(Maps(app.reg), server)
