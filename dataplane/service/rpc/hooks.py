"""grpc.aio servicers for the packet path: Hooks, Replay and Conntrack.

Same rules as servicers.py: thin translation, every error through
``service/errors.py`` (via ``_guard``), nothing blocking on the event loop
(waiting for a replay to stop runs in a thread).
"""
from __future__ import annotations

import asyncio
import time

from dataplane.errors import DataplaneError
from dataplane.service.config import SAMPLE_PCAP, VERDICT_NAMES
from dataplane.service.errors import abort_with
from dataplane.service.hookset import POSITIONS, HookSet
from dataplane.service.paths import PathPolicy, default_policy
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
    def __init__(self, replays: ReplaySet, paths: PathPolicy | None = None):
        self.replays = replays
        self.paths = paths if paths is not None else default_policy()

    @_guard
    async def Start(self, request, context):
        o = request.outputs
        outputs = {k: getattr(o, k) for k in VERDICT_NAMES}     # `pass` is a Python keyword
        # the service runs as root: a client may only read traces from, and
        # create/truncate outputs in, the configured directories; the
        # resolved paths are what gets opened
        outputs = {k: self.paths.check_write(v, f"output {k}") for k, v in outputs.items()}
        pcap = request.pcap
        if not pcap.startswith(SAMPLE_PCAP):
            pcap = self.paths.check_read(pcap, "pcap")
        loop = request.loop if request.loop != 0 else 1
        e = await asyncio.to_thread(self.replays.start, request.hook, pcap, loop=loop, outputs=outputs,
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


CONNTRACK_PAGE_TTL_S = 60.0     # a paged listing's snapshot lives this long after its last page
MAX_CT_SNAPSHOTS = 8            # listings in progress at once (oldest dropped first)


class _Snapshots:
    """Conntrack listings being paged: id -> (entries as protos, expiry).

    The table has no stable cursor (buckets are rehashed by inserts and GC),
    so the first page walks it once into a snapshot and the following pages
    slice that: every entry comes back exactly once, and a page costs
    O(page_size) instead of a walk of the whole table.
    """

    def __init__(self):
        self._next = 1
        self._items: dict[int, tuple[list, float]] = {}

    def _expire(self, now: float) -> None:
        for sid in [k for k, (_, exp) in self._items.items() if exp <= now]:
            del self._items[sid]
        while len(self._items) >= MAX_CT_SNAPSHOTS:
            del self._items[min(self._items)]

    def add(self, entries: list) -> int:
        now = time.monotonic()
        self._expire(now)
        sid = self._next
        self._next += 1
        self._items[sid] = (entries, now + CONNTRACK_PAGE_TTL_S)
        return sid

    def get(self, token: str) -> tuple[int, list, int]:
        try:
            sid_s, off_s = token.split(":", 1)
            sid, off = int(sid_s), int(off_s)
        except ValueError:
            raise DataplaneError(f"conntrack list: malformed page_token {token!r}") from None
        self._expire(time.monotonic())
        if sid not in self._items:
            raise DataplaneError(f"conntrack list: page_token {token!r} expired or unknown: "
                                 "start the listing again")
        entries, _ = self._items[sid]
        self._items[sid] = (entries, time.monotonic() + CONNTRACK_PAGE_TTL_S)
        if not 0 <= off <= len(entries):
            raise DataplaneError(f"conntrack list: page_token {token!r} is out of range")
        return sid, entries, off

    def drop(self, sid: int) -> None:
        self._items.pop(sid, None)


class Conntrack(rpc.ConntrackServicer):
    def __init__(self, reg: Registry):
        self.reg = reg
        self.snapshots = _Snapshots()

    def _table(self):
        if self.reg.conntrack is None:
            raise DataplaneError("conntrack is not available in this build", kind=95)   # EOPNOTSUPP
        return self.reg.conntrack

    def _walk(self) -> list:
        # the table's clock is CLOCK_MONOTONIC in ns, as bpf_ktime_get_ns
        return [ct_entry(e) for e in self._table().entries(time.monotonic_ns())]

    @_guard
    async def List(self, request, context):
        if request.page_token:
            sid, entries, off = self.snapshots.get(request.page_token)
        else:
            # walking tens of thousands of entries (and formatting each) is
            # CPU work: off the event loop, so health and other calls answer
            entries = await asyncio.to_thread(self._walk)
            if not request.page_size:
                return pb.ListConntrackResponse(entries=entries, total=len(entries))
            sid, off = None, 0
        size = request.page_size or len(entries)
        end = min(off + size, len(entries))
        token = ""
        if end < len(entries):
            if sid is None:
                sid = self.snapshots.add(entries)
            token = f"{sid}:{end}"
        elif sid is not None:
            self.snapshots.drop(sid)        # last page served: free the snapshot now
        return pb.ListConntrackResponse(entries=entries[off:end], next_page_token=token, total=len(entries))

    @_guard
    async def Flush(self, request, context):
        return pb.FlushConntrackResponse(flushed=self._table().flush() or 0)

    @_guard
    async def Stats(self, request, context):
        t = self._table()
        st = t.stats()
        return pb.ConntrackStatsResponse(entries=st.get("entries", 0), max_entries=t.max_entries,
                                         counters={k: v for k, v in st.items() if k != "entries"})


def add_flow(server, reg: Registry, hooks: HookSet, replays: ReplaySet, paths: PathPolicy | None = None) -> None:
    rpc.add_HooksServicer_to_server(Hooks(hooks), server)
    rpc.add_ReplayServicer_to_server(Replay(replays, paths), server)
    rpc.add_ConntrackServicer_to_server(Conntrack(reg), server)
