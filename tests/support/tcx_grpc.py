"""The dataplane's hooks over gRPC as a scenario backend (see tests/support/tcx.py).

Every scenario operation becomes the Hooks / Links RPC a management daemon
would send: positions in the kernel's vocabulary (flags, relative_id with
BPF_F_ID implied, or relative_program_id / relative_link_id as handles --
the analog of the kernel's fds), Query for BPF_PROG_QUERY, Delete for the
device going away, a one-packet replay for RUN. Errors come back as the
errno in the `dataplane-errno` trailing metadata.
"""
from __future__ import annotations

import grpc

from dataplane.service.errors import ERRNO_KEY
from dataplane.service.protos import pb, rpc
from support.hooks import write_pcap
from support.mprog_scenarios import Nothing, Op, P, Scenario
from support.tcx import FRAME, QueryView, xdp_name

RPC_TIMEOUT = 30.0


def _errno(exc: grpc.RpcError) -> int:
    md = dict(exc.trailing_metadata() or ())
    if ERRNO_KEY not in md:
        raise exc
    return int(md[ERRNO_KEY])


class DataplaneGrpc:
    """The hooks of a running `dataplane serve`, through its gRPC API."""

    def __init__(self, server, obj_path, tmp_path):
        self.hooks = rpc.HooksStub(server.channel)
        self.links_rpc = rpc.LinksStub(server.channel)
        self.replay = rpc.ReplayStub(server.channel)
        r = rpc.ProgramsStub(server.channel).Load(pb.LoadRequest(path=str(obj_path)), timeout=RPC_TIMEOUT)
        by_name = {p.name: p.id for p in r.programs}
        self.progs = {n: by_name[xdp_name(n)] for n in
                      ["tc1", "tc2", "tc3", "tc4", "tc5", "tc6"] + [f"d{i}" for i in range(64)]}
        self.names = {v: k for k, v in self.progs.items()}
        self.pcap = str(write_pcap(tmp_path / "one.pcap", [FRAME]))
        self.seq = 0

    def start(self, scen: Scenario) -> None:
        self.seq += 1
        self.hook = {t: f"{scen.name}-{self.seq}/{t}" for t in ("ingress", "egress")}
        self.links: dict[str, int] = {}
        self.gone = False
        for name in self.hook.values():
            # hooks are created on first attach; attach and detach leaves an empty one at revision 1
            self.hooks.Attach(pb.AttachRequest(program_id=self.progs["tc1"], hook=name), timeout=RPC_TIMEOUT)
            self.hooks.Detach(pb.DetachRequest(hook=name, program_id=self.progs["tc1"]), timeout=RPC_TIMEOUT)

    def finish(self) -> None:
        for lid in self.links.values():
            self._call(self.links_rpc.Detach, pb.DetachLinkRequest(link_id=lid))
        if not self.gone:
            for name in self.hook.values():
                self._call(self.hooks.Delete, pb.DeleteHookRequest(hook=name))

    def close(self) -> None:
        pass

    def _call(self, fn, req):
        try:
            return 0, fn(req, timeout=RPC_TIMEOUT)
        except grpc.RpcError as e:
            return _errno(e), None

    def _rel(self, rel) -> dict:
        if rel is None:
            return {}
        if isinstance(rel, Nothing):
            return {"relative_id": 0x7FFFFFF0 if rel.value < 0x7FFFFFF0 else rel.value}
        if isinstance(rel, P):
            pid = self.progs[rel.name]
            return {"relative_id": pid} if rel.id else {"relative_program_id": pid}
        lid = self.links[rel.name]
        return {"relative_id": lid} if rel.id else {"relative_link_id": lid}

    def do(self, op: Op):
        k = op.kind
        hook = self.hook.get(op.target)
        if k == "attach":
            req = pb.AttachRequest(program_id=self.progs[op.prog], hook=hook, flags=op.flags,
                                   replace_program_id=self.progs[op.replace] if op.replace else 0,
                                   expected_revision=op.rev, **self._rel(op.rel))
            return self._call(self.hooks.Attach, req)[0]
        if k == "detach":
            rel = self._rel(op.rel)
            req = pb.DetachRequest(hook=hook, program_id=self.progs[op.prog] if op.prog else 0, flags=op.flags,
                                   relative_id=rel.get("relative_id") or rel.get("relative_program_id") or 0,
                                   expected_revision=op.rev)
            return self._call(self.hooks.Detach, req)[0]
        if k == "link":
            req = pb.CreateLinkRequest(program_id=self.progs[op.prog], hook=hook, flags=op.flags,
                                       expected_revision=op.rev, **self._rel(op.rel))
            err, r = self._call(self.links_rpc.Create, req)
            if not err:
                self.links[op.link] = r.id
            return err
        if k == "update":
            return self._call(self.links_rpc.Update, pb.UpdateLinkRequest(link_id=self.links[op.link],
                                                                           program_id=self.progs[op.prog]))[0]
        if k == "link_detach":
            return self._call(self.links_rpc.Detach, pb.DetachLinkRequest(link_id=self.links[op.link]))[0]
        if k == "close":
            for lid in self.links.values():
                self._call(self.links_rpc.Detach, pb.DetachLinkRequest(link_id=lid))
            self.links = {}
            return 0
        if k == "dev_del":
            for name in self.hook.values():
                self._call(self.hooks.Delete, pb.DeleteHookRequest(hook=name))
            self.gone = True
            return 0
        if k == "link_info":
            _, r = self._call(self.links_rpc.Get, pb.GetLinkRequest(id=self.links[op.link]))
            return self.names.get(r.program_id, f"?{r.program_id}"), r.defunct
        if k == "query":
            return self.query(op)
        if k == "run":
            return self.run(op.target)
        raise ValueError(k)

    def _link_name(self, lid: int):
        if lid == 0:
            return None
        return next((n for n, i in self.links.items() if i == lid), f"?{lid}")

    def query(self, op: Op) -> QueryView:
        count_only = op.count is None or op.count == 0
        err, q = self._call(self.hooks.Query, pb.QueryHookRequest(
            hook=self.hook[op.target], count=op.count or 0, count_only=count_only, query_flags=op.query_flags,
            attach_flags=op.attach_flags))
        if err:
            return QueryView(err)
        return QueryView(q.error, q.count, q.revision, tuple(self.names.get(i, f"?{i}") for i in q.prog_ids),
                         tuple(self._link_name(i) for i in q.link_ids))

    def _runs(self, hook: str) -> dict[int, int]:
        r = self.hooks.List(pb.ListHooksRequest(hook=hook), timeout=RPC_TIMEOUT)
        return {c.program_id: c.run_cnt for h in r.hooks for c in h.counters}

    def run(self, target: str) -> frozenset:
        if self.gone:
            return frozenset()
        hook = self.hook[target]
        before = self._runs(hook)
        st = self.replay.Start(pb.StartReplayRequest(hook=hook, pcap=self.pcap, loop=1), timeout=RPC_TIMEOUT)
        for s in self.replay.Watch(pb.WatchReplayRequest(id=st.id, interval_ms=5), timeout=RPC_TIMEOUT):
            if s.final:
                assert s.state == "done" and s.packets == 1, s
                break
        after = self._runs(hook)
        return frozenset(self.names.get(pid, f"?{pid}") for pid, n in after.items() if n != before.get(pid, 0))
