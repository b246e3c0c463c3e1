"""`remote fib learn | show | route add | route del | neigh set | neigh del | lookup`:
the service's network namespace model (what bpf_fib_lookup and friends see)."""
from __future__ import annotations

from dataplane.cli.client import call

OBJECT = "fib"


def register(what) -> None:
    fib = what.add_parser(OBJECT, help="the network namespace model the routing helpers use")
    ops = fib.add_subparsers(dest="op", metavar="OP")
    ops.required = True
    p = ops.add_parser("learn", help="copy a kernel network namespace (routes, neighbours, devices, sockets)")
    p.add_argument("netns", nargs="?", default="", help="name under /run/netns (default: the service's own)")
    ops.add_parser("show", help="devices, routes and neighbours")
    rt = ops.add_parser("route").add_subparsers(dest="route_op", metavar="add|del")
    rt.required = True
    a = rt.add_parser("add")
    a.add_argument("prefix", help="DST/LEN")
    a.add_argument("--via", default="", help="gateway")
    a.add_argument("--dev", type=int, default=0, help="egress ifindex")
    a.add_argument("--table", type=int, default=0)
    a.add_argument("--metric", type=int, default=0)
    a.add_argument("--type", default="unicast")
    a.add_argument("--mtu", type=int, default=0)
    a.add_argument("--mtu-lock", action="store_true")
    a.add_argument("--src", default="", help="preferred source address")
    d = rt.add_parser("del")
    d.add_argument("prefix")
    d.add_argument("--table", type=int, default=0)
    d.add_argument("--metric", type=int, default=0)
    nb = ops.add_parser("neigh").add_subparsers(dest="neigh_op", metavar="set|del")
    nb.required = True
    s = nb.add_parser("set")
    s.add_argument("address")
    s.add_argument("lladdr")
    s.add_argument("--dev", type=int, required=True)
    s.add_argument("--state", type=int, default=0, help="NUD_* (default permanent)")
    nd = nb.add_parser("del")
    nd.add_argument("address")
    nd.add_argument("--dev", type=int, required=True)
    lk = ops.add_parser("lookup", help="bpf_fib_lookup from the control plane")
    lk.add_argument("dst")
    lk.add_argument("--src", default="")
    lk.add_argument("--iif", type=int, default=1, help="receiving ifindex (default 1, lo)")
    lk.add_argument("--flags", type=lambda v: int(v, 0), default=0, help="BPF_FIB_LOOKUP_* bits")
    lk.add_argument("--tot-len", type=int, default=0)
    lk.add_argument("--mark", type=int, default=0)
    lk.add_argument("--table", type=int, default=0, help="with BPF_FIB_LOOKUP_TBID")


def _prefix(text: str) -> tuple[str, int]:
    from dataplane.errors import DataplaneError
    addr, sep, plen = text.partition("/")
    if not sep:
        plen = "128" if ":" in addr else "32"
    try:
        return addr, int(plen)
    except ValueError:
        raise DataplaneError(f"bad prefix {text!r} (DST/LEN)", kind=22) from None


def _summary(s) -> str:
    return (f"{s.source}: {s.devices} devices, {s.addresses} addresses, {s.routes} routes, {s.rules} rules, "
            f"{s.neighbours} neighbours, {s.sockets} sockets")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.FibStub(ch)
    if args.op == "learn":
        r = call(stub.Learn, pb.LearnFibRequest(netns=args.netns))
        out(r, _summary(r.summary))
    elif args.op == "show":
        r = call(stub.Show, pb.ShowFibRequest())
        lines = [_summary(r.summary)]
        lines += [f"dev {d.ifindex} {d.name} mtu {d.mtu} {d.mac}" + (" forwarding" if d.forwarding4 else "")
                  for d in r.devices]
        for x in r.routes:
            via = f" via {x.gateway}" if x.gateway else ""
            kind = "" if x.type == "unicast" else f"{x.type} "
            lines.append(f"{kind}{x.dst}/{x.dst_len}{via} dev {x.oif} table {x.table} metric {x.priority}")
        lines += [f"{n.address} dev {n.ifindex} lladdr {n.lladdr} nud {n.state:#x}" for n in r.neighbours]
        out(r, "\n".join(lines))
    elif args.op == "route":
        dst, plen = _prefix(args.prefix)
        if args.route_op == "add":
            route = pb.FibRoute(dst=dst, dst_len=plen, gateway=args.via, oif=args.dev, table=args.table,
                                priority=args.metric, type=args.type, mtu=args.mtu, mtu_locked=args.mtu_lock,
                                prefsrc=args.src)
            r = call(stub.AddRoute, pb.AddRouteRequest(route=route))
            out(r, _summary(r.summary))
        else:
            r = call(stub.DeleteRoute, pb.DeleteRouteRequest(dst=dst, dst_len=plen, table=args.table,
                                                               priority=args.metric))
            out(r, f"deleted {r.deleted}; {_summary(r.summary)}")
    elif args.op == "neigh":
        if args.neigh_op == "set":
            nb = pb.FibNeighbour(ifindex=args.dev, address=args.address, lladdr=args.lladdr, state=args.state)
            r = call(stub.SetNeighbour, pb.SetNeighbourRequest(neighbour=nb))
            out(r, _summary(r.summary))
        else:
            r = call(stub.DeleteNeighbour, pb.DeleteNeighbourRequest(ifindex=args.dev, address=args.address))
            out(r, f"deleted {r.deleted}; {_summary(r.summary)}")
    elif args.op == "lookup":
        r = call(stub.Lookup, pb.FibLookupRequest(dst=args.dst, src=args.src, ifindex=args.iif, flags=args.flags,
                                                  tot_len=args.tot_len, mark=args.mark, tbid=args.table))
        out(r, f"{r.ret_name} ({r.ret}) dev {r.ifindex} via {r.dst} dmac {r.dmac} smac {r.smac} "
               f"mtu {r.mtu_result} metric {r.rt_metric}")
    return 0
