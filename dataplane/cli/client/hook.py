"""Remote `hook`, `replay` and `ct` verbs (parsers and handlers) for client_cmd.

Text output follows the local tools' habits: a hook listing in run order with
each program's verdict counts; a replay summary like `dataplane replay`'s;
`ct list` in `conntrack -L` lines with conntrack's summary on stderr.
"""
from __future__ import annotations

import json
import sys

CT_PAGE = 2000         # conntrack entries per List page
_POSITIONS = {"last": 0, "first": 1, "before": 2, "after": 3, "replace": 4}


def _counts(d) -> str:
    return " ".join(f"{k} {d[k]}" for k in ("pass", "drop", "tx", "redirect", "aborted") if d.get(k))


def _hook_text(r) -> str:
    lines = []
    for h in r.hooks:
        lines.append(f"{h.name}  revision {h.revision}  programs {len(h.chain)}")
        counters = {c.program_id: c for c in h.counters}
        for a in h.chain:
            c = counters.get(a.program_id)
            extra = ""
            if c is not None:
                extra = f"  run_cnt {c.run_cnt}  run_time_ns {c.run_time_ns}  {_counts(c.packets) or 'no packets'}"
            lines.append(f"\t{a.priority}: prog {a.program_id} {a.program_name}  link {a.link_id}{extra}")
    return "\n".join(lines)


def replay_text(s) -> str:
    head = f"replay {s.id} ({s.name}) hook {s.hook}  {s.state}"
    if s.error:
        head += f": {s.error}"
    body = (f"\tpackets {s.packets}  bytes {s.bytes}  passes {s.passes}  wall {s.elapsed_seconds:.3f}s  "
            f"{s.mpps:.3f} Mpps  {s.ns_per_packet:.1f} ns/packet")
    verdicts = _counts(s.verdicts)
    return head + "\n" + body + (f"\n\tverdicts {verdicts}" if verdicts else "")


def _watch(args, stub, pb, rid: int, out) -> int:
    """Stream progress; on a terminal, one self-overwriting line; then the summary."""
    import grpc

    from dataplane.cli.client_cmd import _translate, as_dict
    tty = sys.stderr.isatty() and not args.json
    last = None
    try:
        for s in stub.Watch(pb.WatchReplayRequest(id=rid, interval_ms=args.interval), timeout=None):
            last = s
            if tty and not s.final:
                print(f"\r{s.packets} packets  {s.passes} passes  {s.elapsed_seconds:.1f}s", end="",
                      file=sys.stderr, flush=True)
    except grpc.RpcError as exc:
        raise _translate(exc) from None
    if tty:
        print(file=sys.stderr)
    if args.json:
        print(json.dumps(as_dict(last)))
    else:
        print(replay_text(last))
    return 1 if last is not None and last.state == "failed" else 0


def run(args, ch, out) -> int:
    from dataplane.cli.client_cmd import _call
    from dataplane.service.protos import pb, rpc
    if args.what == "hook":
        hooks = rpc.HooksStub(ch)
        if args.op == "list":
            r = _call(hooks.List, pb.ListHooksRequest(hook=args.hook or ""))
            out(r, _hook_text(r))
        elif args.op == "attach":
            pos, rel = "last", 0
            for name in ("before", "after", "replace"):
                if getattr(args, name):
                    pos, rel = name, getattr(args, name)
            if args.first:
                pos = "first"
            r = _call(hooks.Attach, pb.AttachRequest(program_id=args.prog_id, hook=args.hook, position=_POSITIONS[pos],
                                                     relative_program_id=rel, expected_revision=args.revision))
            out(r, f"link {r.attachment.link_id}: prog {r.attachment.program_id} attached to {args.hook} "
                   f"at {r.attachment.priority}  revision {r.revision}")
        elif args.op == "detach":
            if args.prog_id is None:
                if not args.target.isdigit():
                    from dataplane.errors import DataplaneError
                    raise DataplaneError("detach: give LINK_ID, or HOOK PROG_ID")
                req = pb.DetachRequest(link_id=int(args.target), expected_revision=args.revision)
            else:
                req = pb.DetachRequest(hook=args.target, program_id=args.prog_id, expected_revision=args.revision)
            r = _call(hooks.Detach, req)
            out(r, f"detached  revision {r.revision}")
        return 0
    if args.what == "replay":
        stub = rpc.ReplayStub(ch)
        if args.op == "start":
            outputs = pb.ReplayOutputs(**{v: getattr(args, f"{v}_out") or "" for v in
                                          ("pass", "drop", "tx", "redirect", "aborted")})
            loop = args.loop
            s = _call(stub.Start, pb.StartReplayRequest(hook=args.hook, pcap=args.pcap, loop=loop, outputs=outputs,
                                                        name=args.name or ""))
            if args.watch:
                return _watch(args, stub, pb, s.id, out)
            out(s, f"replay {s.id} ({s.name}) started: {s.pcap} -> hook {s.hook}")
        elif args.op == "watch":
            return _watch(args, stub, pb, args.id, out)
        elif args.op == "stop":
            s = _call(stub.Stop, pb.StopReplayRequest(id=args.id))
            out(s, replay_text(s))
        elif args.op == "list":
            r = _call(stub.List, pb.ListReplaysRequest())
            out(r, "\n".join(replay_text(s) for s in r.replays))
        return 0
    if args.what == "ct":
        stub = rpc.ConntrackStub(ch)
        if args.op == "list":
            # paged, so a big table never becomes one huge message (the
            # server's default receive/send limits are 4 MiB)
            r = _call(stub.List, pb.ListConntrackRequest(page_size=CT_PAGE))
            while r.next_page_token:
                more = _call(stub.List, pb.ListConntrackRequest(page_size=CT_PAGE, page_token=r.next_page_token))
                r.entries.extend(more.entries)
                r.next_page_token = more.next_page_token
            out(r, "".join(e.line + "\n" for e in r.entries).rstrip("\n"))
            if not args.json:
                from dataplane.conntrack.format import summary_line
                print(summary_line(len(r.entries)), file=sys.stderr)
        elif args.op == "flush":
            r = _call(stub.Flush, pb.FlushConntrackRequest())
            out(r, f"connection tracking table has been emptied ({r.flushed} entries)")
        elif args.op == "stats":
            r = _call(stub.Stats, pb.ConntrackStatsRequest())
            fields = " ".join(f"{k}={v}" for k, v in sorted(r.counters.items()))
            out(r, f"entries={r.entries} max_entries={r.max_entries} {fields}")
        return 0
    raise AssertionError(args.what)


def _loop(text: str) -> int:
    import argparse
    if text == "forever":
        return -1
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a number of passes >= 1 or 'forever', got {text!r}")


def register(what) -> None:
    hk = what.add_parser("hook", help="hooks: attachment points and their chains").add_subparsers(dest="op",
                                                                                                  metavar="OP")
    hk.required = True
    hk.add_parser("list").add_argument("hook", nargs="?")
    at = hk.add_parser("attach", help="attach a loaded program (default: append to the chain)")
    at.add_argument("hook")
    at.add_argument("prog_id", type=int)
    g = at.add_mutually_exclusive_group()
    g.add_argument("--first", action="store_true", help="prepend")
    g.add_argument("--before", type=int, metavar="PROG_ID")
    g.add_argument("--after", type=int, metavar="PROG_ID")
    g.add_argument("--replace", type=int, metavar="PROG_ID")
    at.add_argument("--revision", type=int, default=0, help="expected hook revision (ABORTED if stale)")
    dt = hk.add_parser("detach", help="detach by LINK_ID, or by HOOK PROG_ID")
    dt.add_argument("target", metavar="LINK_ID|HOOK")
    dt.add_argument("prog_id", type=int, nargs="?")
    dt.add_argument("--revision", type=int, default=0)

    rp = what.add_parser("replay", help="replay a pcap on the server into a hook").add_subparsers(dest="op",
                                                                                                 metavar="OP")
    rp.required = True
    st = rp.add_parser("start")
    st.add_argument("hook")
    st.add_argument("pcap", help="path on the server (or 'sample:' for the bundled trace)")
    st.add_argument("--loop", default=1, type=_loop, help="passes over the trace, or 'forever'")
    for v in ("pass", "drop", "tx", "redirect", "aborted"):
        st.add_argument(f"--{v}-out", metavar="FILE", help=f"server-side pcap for {v} packets")
    st.add_argument("--name")
    st.add_argument("--watch", action="store_true", help="stream progress and print the summary")
    st.add_argument("--interval", type=int, default=500, help="progress interval in ms")
    w = rp.add_parser("watch")
    w.add_argument("id", type=int)
    w.add_argument("--interval", type=int, default=500, help="progress interval in ms")
    rp.add_parser("stop").add_argument("id", type=int)
    rp.add_parser("list")

    ct = what.add_parser("ct", help="the service's conntrack table").add_subparsers(dest="op", metavar="OP")
    ct.required = True
    for op in ("list", "flush", "stats"):
        ct.add_parser(op)
