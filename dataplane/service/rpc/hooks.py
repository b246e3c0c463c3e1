"""Hooks: attach and detach programs on a hook's chain (bpf_mprog rules), list chains with counters."""
from __future__ import annotations

from dataplane.errors import DataplaneError
from dataplane.service.errors import guard
from dataplane.service.hookset import POSITIONS, HookSet
from dataplane.service.protos import pb, rpc


def _att(a, program_name: str = "") -> pb.Attachment:
    return pb.Attachment(link_id=a.link_id, program_id=a.program_id, interface=a.interface, hook=a.interface,
                         direction=a.direction, state=a.state, priority=a.priority, program_name=program_name)


def hook_name(request) -> str:
    """`hook`, or the old (interface, direction) pair: egress hooks are "IFACE/egress"."""
    if request.hook:
        return request.hook
    if not request.interface:
        raise DataplaneError("attach: hook is required")
    return request.interface + ("/egress" if request.direction == pb.DIRECTION_EGRESS else "")


class Hooks(rpc.HooksServicer):
    def __init__(self, hooks: HookSet):
        self.hooks = hooks

    @guard
    async def Attach(self, request, context):
        if request.position >= len(POSITIONS):
            raise DataplaneError(f"attach: unknown position {request.position}")
        att, rev = self.hooks.attach(request.program_id, hook_name(request), POSITIONS[request.position],
                                     request.relative_program_id, request.expected_revision)
        name = self.hooks.links[att.link_id].program_name if att.link_id in self.hooks.links else ""
        return pb.AttachResponse(attachment=_att(att, name), revision=rev)

    @guard
    async def Detach(self, request, context):
        rev = self.hooks.detach(request.link_id, request.hook, request.program_id, request.expected_revision)
        return pb.DetachResponse(revision=rev)

    @guard
    async def List(self, request, context):
        names = [request.hook] if request.hook else self.hooks.names()
        counters = {}
        for hname, ln, st in self.hooks.counters():
            counters[(hname, ln.att.link_id)] = st
        resp = pb.ListHooksResponse()
        for name in names:
            rev, order = self.hooks.chain(name)
            info = resp.hooks.add(name=name, revision=rev)
            for ln in order:
                a = _att(ln.att, ln.program_name)
                info.chain.append(a)
                resp.attachments.append(a)
                st = counters.get((name, ln.att.link_id))
                if st is not None:
                    info.counters.add(program_id=ln.att.program_id, program_name=ln.program_name,
                                      packets=st.get("packets", {}), bytes=st.get("bytes", {}),
                                      run_cnt=st.get("runs", 0), run_time_ns=st.get("run_ns", 0))
        return resp


def register(server, app, serving) -> None:
    rpc.add_HooksServicer_to_server(Hooks(app.hooks), server)
