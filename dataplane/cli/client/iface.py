"""`remote iface list [NAME] [--bound] | bind HOOK IFACE [IFACE] [--mode M] [--io IO] [--queues 0,1]
[--force] ... | unbind HOOK`.

The listing prints every interface with its RX queues and XDP program, and
for the interfaces of live hooks one line per queue with the dataplane's and
the kernel's counters."""
from __future__ import annotations

from dataplane.cli.client import call

OBJECT = "iface"
_SHOWN = ("rx_packets", "tx_packets", "dropped", "redirect_errors", "tx_ring_full", "fill_empty", "tx_errors",
          "host_packets")
_KSHOWN = ("rx_dropped", "rx_ring_full", "rx_fill_ring_empty_descs", "tp_drops")


def _hook_line(h) -> str:
    modes = ", ".join(f"{k} {v}" for k, v in sorted(h.xdp_modes.items()))
    s = f"hook {h.hook}: {h.mode} {h.io} {' '.join(h.interfaces)}  {h.state}  workers {h.workers}"
    if modes:
        s += f"  xdp {modes}"
    if h.bind_modes:
        s += f"  bind {h.bind}: " + ", ".join(f"{k} {v}" for k, v in sorted(h.bind_modes.items()))
    if h.tap:
        s += f"  tap {h.tap}"
    if h.links_down:
        s += f"  down: {' '.join(h.links_down)}"
    if h.error:
        s += f"  error: {h.error}"
    return s


def iface_text(r) -> str:
    lines = []
    for i in r.interfaces:
        xdp = f"xdp {i.xdp_mode} id {i.xdp_prog_id} {i.xdp_prog_name}" if i.xdp_prog_id else "no xdp"
        own = f"  hook {i.hook} ({i.io})" if i.hook else ""
        lines.append(f"{i.index}: {i.name}  {i.kind or '-'}  mtu {i.mtu}  {i.oper_state or '?'}  "
                     f"rxq {i.rx_queues} txq {i.tx_queues}  {xdp}{own}")
        for q in i.queues:
            c = "  ".join(f"{k} {q.counters[k]}" for k in _SHOWN if k in q.counters)
            k = "  ".join(f"{n} {q.kernel[n]}" for n in _KSHOWN if n in q.kernel)
            lines.append(f"\tqueue {q.queue} (worker {q.worker}): {c}" + (f"  | kernel {k}" if k else ""))
    for h in r.hooks:
        lines.append(_hook_line(h))
    return "\n".join(lines)


def _ints(text: str) -> list[int]:
    from dataplane.errors import DataplaneError
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise DataplaneError(f"expected numbers separated by commas, got {text!r}") from None


def register(what) -> None:
    p = what.add_parser(OBJECT, help="interfaces and live hooks (AF_XDP / AF_PACKET)").add_subparsers(
        dest="op", metavar="OP")
    p.required = True
    ls = p.add_parser("list", help="interfaces, queues, XDP programs and per-queue counters")
    ls.add_argument("name", nargs="?")
    ls.add_argument("--bound", action="store_true", help="only interfaces of live hooks")
    b = p.add_parser("bind", help="make interfaces the source of a hook")
    b.add_argument("hook")
    b.add_argument("interfaces", nargs="+", metavar="IFACE")
    b.add_argument("--mode", choices=("inline", "single"), default="")
    b.add_argument("--io", choices=("afxdp", "afpacket"), default="")
    b.add_argument("--queues", default="", help="RX queues, e.g. 0,1 (default: all)")
    b.add_argument("--xdp-mode", choices=("auto", "native", "generic"), default="")
    b.add_argument("--bind-mode", choices=("copy", "zerocopy", "auto"), default="", help="AF_XDP socket mode")
    b.add_argument("--frame-size", type=int, default=0)
    b.add_argument("--batch-size", type=int, default=0)
    b.add_argument("--ring-size", type=int, default=0)
    b.add_argument("--cpus", default="", help="pin worker i to CPU cpus[i %% n], e.g. 1,2")
    b.add_argument("--busy-poll", type=int, default=0, help="SO_BUSY_POLL_BUDGET (0: off)")
    b.add_argument("--no-need-wakeup", action="store_true")
    b.add_argument("--tap", default="", help="single + afxdp: name of the TAP device")
    b.add_argument("--force", action="store_true", help="replace an XDP program already attached")
    u = p.add_parser("unbind", help="stop a live hook (its XDP programs are removed)")
    u.add_argument("hook")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.InterfacesStub(ch)
    if args.op == "list":
        r = call(stub.List, pb.ListInterfacesRequest(name=args.name or "", bound_only=args.bound))
        out(r, iface_text(r))
    elif args.op == "bind":
        req = pb.BindInterfacesRequest(hook=args.hook, interfaces=args.interfaces, mode=args.mode, io=args.io,
                                       queues=_ints(args.queues), xdp_mode=args.xdp_mode, bind=args.bind_mode,
                                       frame_size=args.frame_size, batch_size=args.batch_size,
                                       ring_size=args.ring_size, force=args.force, cpus=_ints(args.cpus),
                                       busy_poll=args.busy_poll, no_need_wakeup=args.no_need_wakeup, tap=args.tap)
        r = call(stub.Bind, req)
        out(r, _hook_line(r.hook))
    elif args.op == "unbind":
        r = call(stub.Unbind, pb.UnbindInterfacesRequest(hook=args.hook))
        out(r, _hook_line(r.hook))
    return 0
