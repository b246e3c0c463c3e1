"""`remote replay start HOOK PCAP [--loop N|forever] [--pass-out F] ... [--name N] [--watch]
| watch ID | stop ID | list`: pcap replays on the server.

Paths are paths on the server ('sample:' names the bundled trace); the
summary reads like `dataplane replay`'s."""
from __future__ import annotations

import json
import sys

from dataplane.abi.xdp import DISPLAY_ORDER as VERDICTS
from dataplane.cli.client import as_dict, call, counts, stream

OBJECT = "replay"


def replay_text(s) -> str:
    head = f"replay {s.id} ({s.name}) hook {s.hook}  {s.state}"
    if s.error:
        head += f": {s.error}"
    body = (f"\tpackets {s.packets}  bytes {s.bytes}  passes {s.passes}  wall {s.elapsed_seconds:.3f}s  "
            f"{s.mpps:.3f} Mpps  {s.ns_per_packet:.1f} ns/packet")
    verdicts = counts(s.verdicts)
    return head + "\n" + body + (f"\n\tverdicts {verdicts}" if verdicts else "")


def _watch(args, stub, pb, rid: int) -> int:
    """Stream progress; on a terminal, one self-overwriting line; then the summary."""
    tty = sys.stderr.isatty() and not args.json
    last = None
    for s in stream(stub.Watch, pb.WatchReplayRequest(id=rid, interval_ms=args.interval), timeout=None):
        last = s
        if tty and not s.final:
            print(f"\r{s.packets} packets  {s.passes} passes  {s.elapsed_seconds:.1f}s", end="",
                  file=sys.stderr, flush=True)
    if tty:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(as_dict(last)))
    else:
        print(replay_text(last))
    return 1 if last is not None and last.state == "failed" else 0


def _loop(text: str) -> int:
    import argparse
    if text == "forever":
        return -1
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a number of passes >= 1 or 'forever', got {text!r}")


def register(what) -> None:
    rp = what.add_parser(OBJECT, help="replay a pcap on the server into a hook").add_subparsers(dest="op",
                                                                                               metavar="OP")
    rp.required = True
    st = rp.add_parser("start")
    st.add_argument("hook")
    st.add_argument("pcap", help="path on the server (or 'sample:' for the bundled trace)")
    st.add_argument("--loop", default=1, type=_loop, help="passes over the trace, or 'forever'")
    for v in VERDICTS:
        st.add_argument(f"--{v}-out", metavar="FILE", help=f"server-side pcap for {v} packets")
    st.add_argument("--name")
    st.add_argument("--workers", type=int, default=0, help="worker threads, worker i as CPU i (default 1)")
    st.add_argument("--order", choices=("deterministic", "free"), default="",
                    help="single-worker order (the default for 1 worker) or free (for N)")
    st.add_argument("--watch", action="store_true", help="stream progress and print the summary")
    st.add_argument("--interval", type=int, default=500, help="progress interval in ms")
    w = rp.add_parser("watch")
    w.add_argument("id", type=int)
    w.add_argument("--interval", type=int, default=500, help="progress interval in ms")
    rp.add_parser("stop").add_argument("id", type=int)
    rp.add_parser("list")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.ReplayStub(ch)
    if args.op == "start":
        outputs = pb.ReplayOutputs(**{v: getattr(args, f"{v}_out") or "" for v in VERDICTS})
        s = call(stub.Start, pb.StartReplayRequest(hook=args.hook, pcap=args.pcap, loop=args.loop, outputs=outputs,
                                                   name=args.name or "", workers=args.workers, order=args.order))
        if args.watch:
            return _watch(args, stub, pb, s.id)
        out(s, f"replay {s.id} ({s.name}) started: {s.pcap} -> hook {s.hook}")
    elif args.op == "watch":
        return _watch(args, stub, pb, args.id)
    elif args.op == "stop":
        s = call(stub.Stop, pb.StopReplayRequest(id=args.id))
        out(s, replay_text(s))
    elif args.op == "list":
        r = call(stub.List, pb.ListReplaysRequest())
        out(r, "\n".join(replay_text(s) for s in r.replays))
    return 0
