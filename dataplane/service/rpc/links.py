"""Links: create, update, detach, show and list links (see proto/dataplane/v1/links.proto)."""
from __future__ import annotations

import asyncio
from functools import partial

from dataplane.hooks.mprog import flag_names
from dataplane.abi.xdp import VERDICT_NAMES
from dataplane.service.errors import guard
from dataplane.service.hookset import HookSet
from dataplane.service.protos import pb, rpc
from dataplane.service.rpc.hooks import position


def link_info(ln, pos: int = -1) -> pb.LinkInfo:
    return pb.LinkInfo(id=ln.id, type="hook", program_id=ln.program.id, program_name=ln.program.name,
                       hook=ln.hook or "", revision=ln.revision, flags=flag_names(ln.flags),
                       proceed_on=[VERDICT_NAMES[v] for v in sorted(ln.proceed_on)], attached=ln.attached,
                       defunct=ln.defunct, position=pos)


class Links(rpc.LinksServicer):
    def __init__(self, hooks: HookSet):
        self.hooks = hooks

    @guard
    async def Create(self, request, context):
        ln = await asyncio.to_thread(partial(
            self.hooks.link_create, request.program_id, request.hook, position(request),
            expected_revision=request.expected_revision, first=request.first, last=request.last,
            proceed_on=list(request.proceed_on)))
        return link_info(ln, self.hooks.link_position(ln))

    @guard
    async def Update(self, request, context):
        rev = await asyncio.to_thread(self.hooks.link_update, request.link_id, request.program_id,
                                      request.old_program_id)
        ln = self.hooks.link(request.link_id)
        return pb.UpdateLinkResponse(revision=rev, link=link_info(ln, self.hooks.link_position(ln)))

    @guard
    async def Detach(self, request, context):
        return pb.DetachLinkResponse(revision=await asyncio.to_thread(self.hooks.link_detach, request.link_id))

    @guard
    async def Get(self, request, context):
        ln = self.hooks.link(request.id)
        return link_info(ln, self.hooks.link_position(ln))

    @guard
    async def List(self, request, context):
        return pb.ListLinksResponse(links=[link_info(ln, self.hooks.link_position(ln))
                                           for ln in self.hooks.links(request.hook)])


def register(server, app, serving) -> None:
    rpc.add_LinksServicer_to_server(Links(app.hooks), server)
