"""grpc.aio servicers for the packet path: Hooks, Replay and Conntrack.

Same rules as servicers.py: thin translation, every error through
``service/errors.py`` (via ``_guard``), nothing blocking on the event loop
(waiting for a replay to stop runs in a thread).
"""
from __future__ import annotations

import asyncio
import time

from dataplane.errors import DataplaneError
from dataplane.service.config import VERDICT_NAMES
from dataplane.service.errors import abort_with
from dataplane.service.hookset import POSITIONS, HookSet
from dataplane.service.protos import pb, rpc
from dataplane.service.replays import ReplaySet
from dataplane.service.servicers import _guard
from dataplane.service.state import Registry

DEFAULT_WATCH_MS = 500
MIN_WATCH_MS = 20


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

    @_guard
    async def Attach(self, request, context):
        if request.position >= len(POSITIONS):
            raise DataplaneError(f"attach: unknown position {request.position}")
        att, rev = self.hooks.attach(request.program_id, hook_name(request), POSITIONS[request.position],
                                     request.relative_program_id, request.expected_revision)
        name = self.hooks.links[att.link_id].program_name if att.link_id in self.hooks.links else ""
        return pb.AttachResponse(attachment=_att(att, name), revision=rev)

    @_guard
    async def Detach(self, request, context):
        rev = self.hooks.detach(request.link_id, request.hook, request.program_id, request.expected_revision)
        return pb.DetachResponse(revision=rev)

    @_guard
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


def replay_status(entry, final: bool = False) -> pb.ReplayStatus:
    return pb.ReplayStatus(final=final, **entry.status())


class Replay(rpc.ReplayServicer):
    def __init__(self, replays: ReplaySet):
        self.replays = replays

    @_guard
    async def Start(self, request, context):
        o = request.outputs
        outputs = {k: getattr(o, k) for k in VERDICT_NAMES}     # `pass` is a Python keyword
        loop = request.loop if request.loop != 0 else 1
        e = await asyncio.to_thread(self.replays.start, request.hook, request.pcap, loop=loop, outputs=outputs,
                                    name=request.name, rate=request.rate or "max",
                                    speed=request.speed or None, ifindexes=dict(request.ifindexes) or None)
        return replay_status(e)

    async def Watch(self, request, context):
        # streaming: _guard cannot wrap an async generator; same mapping inline
        try:
            e = self.replays.get(request.id)
            interval = max(request.interval_ms or DEFAULT_WATCH_MS, MIN_WATCH_MS) / 1000.0
            while e.running:
                yield replay_status(e)
                deadline = time.monotonic() + interval
                while e.running and time.monotonic() < deadline:
                    await asyncio.sleep(min(0.02, interval))
            yield replay_status(e, final=True)
        except DataplaneError as exc:
            await abort_with(context, exc)

    @_guard
    async def Stop(self, request, context):
        e = await asyncio.to_thread(self.replays.stop, request.id)
        return replay_status(e, final=True)

    @_guard
    async def List(self, request, context):
        return pb.ListReplaysResponse(replays=[replay_status(e, final=not e.running) for e in self.replays.list()])


def _tuple(t: dict) -> pb.CtTuple:
    return pb.CtTuple(src=t.get("src", ""), dst=t.get("dst", ""), sport=t.get("sport", 0) or 0,
                      dport=t.get("dport", 0) or 0, icmp_type=t.get("type", 0) or 0,
                      icmp_code=t.get("code", 0) or 0, icmp_id=t.get("id", 0) or 0)


def ct_entry(e: dict) -> pb.ConntrackEntry:
    from dataplane.conntrack.format import format_entry
    return pb.ConntrackEntry(l3=e["l3"], proto=e["proto"], protonum=e["protonum"], timeout_s=e["timeout_s"],
                             state=e.get("state") or "", orig=_tuple(e["orig"]), reply=_tuple(e["reply"]),
                             status=e["status"], flags=e.get("flags", []), mark=e["mark"], zone=e["zone"],
                             use=e["use"], line=format_entry(e))


class Conntrack(rpc.ConntrackServicer):
    def __init__(self, reg: Registry):
        self.reg = reg

    def _table(self):
        if self.reg.conntrack is None:
            raise DataplaneError("conntrack is not available in this build", kind=95)   # EOPNOTSUPP
        return self.reg.conntrack

    @_guard
    async def List(self, request, context):
        # the table's clock is CLOCK_MONOTONIC in ns, as bpf_ktime_get_ns
        entries = self._table().entries(time.monotonic_ns())
        return pb.ListConntrackResponse(entries=[ct_entry(e) for e in entries])

    @_guard
    async def Flush(self, request, context):
        return pb.FlushConntrackResponse(flushed=self._table().flush() or 0)

    @_guard
    async def Stats(self, request, context):
        t = self._table()
        st = t.stats()
        return pb.ConntrackStatsResponse(entries=st.get("entries", 0), max_entries=t.max_entries,
                                         counters={k: v for k, v in st.items() if k != "entries"})


def add_flow(server, reg: Registry, hooks: HookSet, replays: ReplaySet) -> None:
    rpc.add_HooksServicer_to_server(Hooks(hooks), server)
    rpc.add_ReplayServicer_to_server(Replay(replays), server)
    rpc.add_ConntrackServicer_to_server(Conntrack(reg), server)
