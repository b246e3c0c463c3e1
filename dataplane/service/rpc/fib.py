"""Fib: the service's network namespace model (dataplane/net) that every
loaded object's bpf_fib_lookup, bpf_check_mtu and socket lookups consult."""
from __future__ import annotations

import asyncio

from dataplane.errors import DataplaneError
from dataplane.net import edit
from dataplane.net import model as M
from dataplane.service.errors import guard
from dataplane.service.protos import pb, rpc

_TYPES = {v: k for k, v in M.ROUTE_TYPES.items()}


def _summary(st: M.NetState) -> pb.FibSummary:
    return pb.FibSummary(**st.summary())


def _route_in(r) -> M.Route:
    t = r.type or "unicast"
    if t not in M.ROUTE_TYPES:
        raise DataplaneError(f"route type {t!r}: one of {', '.join(sorted(M.ROUTE_TYPES))}", kind=22)
    if not r.dst:
        raise DataplaneError("route: dst is required", kind=22)
    return M.Route(dst=r.dst, dst_len=r.dst_len, oif=r.oif, gateway=r.gateway or None, table=r.table,
                   type=M.ROUTE_TYPES[t], scope=r.scope, tos=r.tos, priority=r.priority, mtu=r.mtu,
                   mtu_locked=r.mtu_locked, prefsrc=r.prefsrc or None)


def _route_out(r: M.Route) -> pb.FibRoute:
    return pb.FibRoute(dst=r.dst, dst_len=r.dst_len, oif=r.oif, gateway=r.gateway or "", table=r.table,
                       type=_TYPES.get(r.type, str(r.type)), priority=r.priority, mtu=r.mtu,
                       mtu_locked=r.mtu_locked, prefsrc=r.prefsrc or "", tos=r.tos, scope=r.scope)


class Fib(rpc.FibServicer):
    def __init__(self, app):
        self.reg = app.reg

    @property
    def net(self):
        return self.reg.net

    def _edit(self, fn):
        """Apply fn(state) -> state (or (state, n)) under the model's lock."""
        with self.reg.net_lock:
            res = fn(self.net.state)
            st, n = res if isinstance(res, tuple) else (res, None)
            self.net.apply(st)
        return st, n

    @guard
    async def Learn(self, request, context):
        from dataplane.net.learn import learn
        st = await asyncio.to_thread(learn, request.netns or None)
        with self.reg.net_lock:
            self.net.apply(st)
        return pb.LearnFibResponse(summary=_summary(st))

    @guard
    async def Show(self, request, context):
        st = self.net.state
        return pb.ShowFibResponse(
            summary=_summary(st),
            devices=[pb.FibDevice(ifindex=d.ifindex, name=d.name, mtu=d.mtu, mac=d.mac, flags=d.flags,
                                  forwarding4=d.forwarding4, forwarding6=d.forwarding6) for d in st.devices],
            routes=[_route_out(r) for r in st.routes],
            neighbours=[pb.FibNeighbour(ifindex=n.ifindex, address=n.address, lladdr=n.lladdr, state=n.state)
                        for n in st.neighbours])

    @guard
    async def AddRoute(self, request, context):
        r = _route_in(request.route)
        st, _ = self._edit(lambda s: edit.add_route(s, r))
        return pb.AddRouteResponse(summary=_summary(st))

    @guard
    async def DeleteRoute(self, request, context):
        q = request
        st, n = self._edit(lambda s: edit.delete_route(s, q.dst, q.dst_len, q.table, q.priority))
        return pb.DeleteRouteResponse(deleted=n, summary=_summary(st))

    @guard
    async def SetNeighbour(self, request, context):
        q = request.neighbour
        nb = M.Neighbour(q.ifindex, q.address, q.lladdr or "00:00:00:00:00:00", q.state or M.NUD_PERMANENT)
        st, _ = self._edit(lambda s: edit.set_neighbour(s, nb))
        return pb.SetNeighbourResponse(summary=_summary(st))

    @guard
    async def DeleteNeighbour(self, request, context):
        st, n = self._edit(lambda s: edit.delete_neighbour(s, request.ifindex, request.address))
        return pb.DeleteNeighbourResponse(deleted=n, summary=_summary(st))

    @guard
    async def Lookup(self, request, context):
        q = request
        r = edit.lookup(self.net, q.dst, q.src, q.ifindex or 1, q.flags, q.tot_len, q.mark, q.tbid, q.l4_protocol,
                        q.sport, q.dport)
        return pb.FibLookupResponse(**r)


def register(server, app, serving) -> None:
    rpc.add_FibServicer_to_server(Fib(app), server)
