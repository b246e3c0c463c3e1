"""Hooks: attach and detach programs on a hook's chain (bpf_mprog rules), list,
query and place chains (see proto/dataplane/v1/hooks.proto)."""
from __future__ import annotations

import asyncio
from functools import partial

from dataplane.errors import DataplaneError
from dataplane.service.errors import guard
from dataplane.service.hookset import POSITIONS, EntryView, HookSet, Position
from dataplane.service.protos import pb, rpc


def attachment(e: EntryView) -> pb.Attachment:
    return pb.Attachment(link_id=e.link_id, program_id=e.program_id, interface=e.hook, hook=e.hook,
                         direction=pb.DIRECTION_EGRESS if e.hook.endswith("/egress") else pb.DIRECTION_INGRESS,
                         state="attached", priority=e.index, program_name=e.program_name, flags=list(e.flags),
                         proceed_on=list(e.proceed_on))


def hook_name(request) -> str:
    """`hook`, or the old (interface, direction) pair: egress hooks are "IFACE/egress"."""
    if request.hook:
        return request.hook
    if not request.interface:
        raise DataplaneError("attach: hook is required")
    return request.interface + ("/egress" if request.direction == pb.DIRECTION_EGRESS else "")


def position(request) -> Position:
    """The position of an AttachRequest / CreateLinkRequest."""
    if request.position >= len(POSITIONS) or request.position < 0:
        raise DataplaneError(f"attach: unknown position {request.position}")
    return Position(POSITIONS[request.position], request.relative_program_id, request.relative_link_id,
                    request.flags, request.relative_id, getattr(request, "replace_program_id", 0))


def hook_info(hooks: HookSet, name: str, counters: dict | None = None) -> pb.HookInfo:
    rev, order = hooks.chain(name)
    h = hooks.hook(name)
    kp = h.kernel
    info = pb.HookInfo(name=name, revision=rev, placement=h.placement,
                       interface=kp.interface if kp is not None else "", mode=kp.mode if kp is not None else "")
    for e in order:
        info.chain.append(attachment(e))
        st = (counters or {}).get((name, e.program_id))
        if st is not None:
            info.counters.add(program_id=e.program_id, program_name=e.program_name, packets=st.get("packets", {}),
                              bytes=st.get("bytes", {}), run_cnt=st.get("runs", 0), run_time_ns=st.get("run_ns", 0),
                              errors=st.get("errors", 0), budget_exceeded=st.get("budget", 0),
                              last_error=st.get("last_error", ""))
    return info


class Hooks(rpc.HooksServicer):
    def __init__(self, hooks: HookSet):
        self.hooks = hooks

    @guard
    async def Attach(self, request, context):
        # edits run off the event loop: a kernel-placed hook loads programs into the kernel
        e, rev = await asyncio.to_thread(partial(
            self.hooks.attach, request.program_id, hook_name(request), position(request),
            expected_revision=request.expected_revision, first=request.first, last=request.last,
            proceed_on=list(request.proceed_on)))
        return pb.AttachResponse(attachment=attachment(e), revision=rev)

    @guard
    async def Detach(self, request, context):
        rev = await asyncio.to_thread(partial(
            self.hooks.detach, request.link_id, request.hook, request.program_id, request.expected_revision,
            flags=request.flags, relative_id=request.relative_id))
        return pb.DetachResponse(revision=rev)

    @guard
    async def List(self, request, context):
        names = [request.hook] if request.hook else self.hooks.names()
        counters = {(hname, e.program_id): st for hname, e, st in self.hooks.counters()}
        resp = pb.ListHooksResponse()
        for name in names:
            info = hook_info(self.hooks, name, counters)
            resp.hooks.append(info)
            resp.attachments.extend(info.chain)
        return resp

    @guard
    async def Query(self, request, context):
        count = 0 if request.count_only else (request.count or None)
        q = self.hooks.query(request.hook, count, request.query_flags, request.attach_flags)
        return pb.QueryHookResponse(count=q.count, revision=q.revision, prog_ids=q.prog_ids, link_ids=q.link_ids,
                                    flags=q.flags, error=q.error)

    @guard
    async def Place(self, request, context):
        # netlink (pyroute2) must not run on the event loop
        await asyncio.to_thread(self.hooks.place, request.hook, request.placement, request.interface, request.mode)
        counters = {(hname, e.program_id): st for hname, e, st in self.hooks.counters()}
        return pb.PlaceHookResponse(hook=hook_info(self.hooks, request.hook, counters))


    @guard
    async def Delete(self, request, context):
        await asyncio.to_thread(self.hooks.delete, request.hook)
        return pb.DeleteHookResponse()


def register(server, app, serving) -> None:
    rpc.add_HooksServicer_to_server(Hooks(app.hooks), server)
