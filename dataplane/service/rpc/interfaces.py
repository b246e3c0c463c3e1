"""Interfaces: list the namespace's interfaces; bind/unbind live hooks."""
from __future__ import annotations

import asyncio

from dataplane.io import netlink
from dataplane.live import LiveSpec
from dataplane.service.errors import guard
from dataplane.service.protos import pb, rpc


def live_info(lh) -> pb.LiveHookInfo:
    s = lh.spec
    return pb.LiveHookInfo(hook=s.name, interfaces=list(s.interfaces), mode=s.mode, io=s.io, state=lh.state,
                           error=lh.error, xdp_modes=lh.xdp_modes(), workers=len(lh.workers),
                           cpus=[w.cpu for w in lh.workers],
                           tap=s.tap_name if s.mode == "single" and s.io == "afxdp" else "",
                           links_down=lh.links_down() if lh.state == "running" else [],
                           bind=s.bind if s.io == "afxdp" else "",
                           bind_modes=lh.bind_modes() if lh.state == "running" else {})


def _u64s(d: dict) -> dict:
    return {k: int(v) for k, v in d.items() if isinstance(v, int) and not isinstance(v, bool)}


def list_interfaces(live, name: str = "", bound_only: bool = False) -> pb.ListInterfacesResponse:
    """The listing (blocking: netlink and getsockopt calls)."""
    resp = pb.ListInterfacesResponse()
    ifaces = [netlink.interface(name)] if name else netlink.interfaces()
    stats: dict[str, list] = {}
    for lh in live.list():
        resp.hooks.append(live_info(lh))
        if lh.state == "running":
            for row in lh.queue_stats():
                stats.setdefault(row["interface"], []).append((lh, row))
    for ifc in ifaces:
        owned = stats.get(ifc.name, [])
        owner = live.owner(ifc.name)
        if bound_only and owner is None:
            continue
        info = resp.interfaces.add(name=ifc.name, index=ifc.index, mtu=ifc.mtu, up=ifc.up, oper_state=ifc.oper,
                                   kind=ifc.kind, mac=ifc.mac, rx_queues=ifc.rx_queues, tx_queues=ifc.tx_queues,
                                   xdp_mode=ifc.xdp.mode, xdp_prog_id=ifc.xdp.prog_id,
                                   xdp_prog_name=ifc.xdp.prog_name,
                                   hook=owner.spec.name if owner else "", io=owner.spec.io if owner else "")
        for lh, row in sorted(owned, key=lambda t: t[1]["queue"]):
            info.queues.add(queue=row["queue"], worker=row["worker"],
                            counters=_u64s({k: v for k, v in row.items() if k not in ("queue", "worker")}),
                            kernel=_u64s(row.get("kernel", {})))
    return resp


def spec_of(r: pb.BindInterfacesRequest) -> LiveSpec:
    return LiveSpec(r.hook, list(r.interfaces), mode=r.mode or "inline", io=r.io or "afxdp",
                    queues=list(r.queues) if r.queues else "all", xdp_mode=r.xdp_mode or "auto",
                    bind=r.bind or "copy", frame_size=r.frame_size or 4096, batch_size=r.batch_size or 256,
                    ring_size=r.ring_size or 2048, need_wakeup=not r.no_need_wakeup, busy_poll=r.busy_poll,
                    cpus=list(r.cpus) or None, force=r.force, tap=r.tap or None)


class Interfaces(rpc.InterfacesServicer):
    def __init__(self, app):
        self.live = app.live

    @guard
    async def List(self, request, context):
        return await asyncio.to_thread(list_interfaces, self.live, request.name, request.bound_only)

    @guard
    async def Bind(self, request, context):
        spec = spec_of(request)
        lh = await asyncio.to_thread(self.live.bind, spec, "client")
        return pb.BindInterfacesResponse(hook=live_info(lh))

    @guard
    async def Unbind(self, request, context):
        lh = await asyncio.to_thread(self.live.unbind, request.hook)
        return pb.UnbindInterfacesResponse(hook=live_info(lh))


def register(server, app, serving) -> None:
    rpc.add_InterfacesServicer_to_server(Interfaces(app), server)
