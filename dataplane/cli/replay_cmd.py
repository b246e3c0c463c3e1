"""`dataplane replay`: the pcap replay benchmark.

    dataplane [-j] replay --prog OBJ[:NAME] [--prog OBJ[:NAME] ...] PCAP
              [--pass-out F] [--drop-out F] [--tx-out F] [--redirect-out F] [--aborted-out F]
              [--map-update MAP:KEYHEX:VALUEHEX ...] [--loop N] [--engine jit|interp]
              [--no-verify] [--batch N] [--ifindex N] [--rate max|pcap|N [--speed X]]
              [--ifindex-map ID=IFINDEX,...] [--workers N [--deterministic|--no-deterministic]]

--rate: max (flat out, the default: a benchmark), pcap (the trace's own
timestamps, --speed times faster) or N packets per second. pcapng frames
read ctx->ingress_ifindex = interface id + 1 (the i-th IDB), or what
--ifindex-map says; classic pcap frames read --ifindex.

--workers N: N native worker threads (1..possible CPUs, flat out only),
worker i running as CPU i (per-CPU maps, bpf_get_smp_processor_id).
--deterministic (the default for 1 worker): the single-worker order --
programs see the packets in trace order, each output file gets the bytes
one worker writes; --no-deterministic (the default for N > 1): batches run
at once, each output has every batch's frames together, batches in
finishing order.

Several --prog form a chain in the given order (XDP_PASS continues to the
next one; see dataplane.hooks). --map-update names a map of the first
--prog object that has a map of that name. Each verdict's packets are
written, as the programs left them, to its file. A progress bar (packets, Mpps, ETA; rich) goes to
stderr when it is a terminal, nothing when piped; the summary goes to stdout (JSON with -j:
ReplaySummary.to_dict()). A malformed trace ends the replay with an error
naming the offset, after the good records before it were processed and
written; the exit status is then 2.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(sub) -> None:
    p = sub.add_parser("replay", help="run programs over a pcap trace (replay benchmark)")
    p.add_argument("pcap", help="pcap or pcapng trace")
    p.add_argument("--prog", action="append", required=True, metavar="OBJ[:NAME]",
                   help="XDP program; repeat for a chain (run in order)")
    for v in ("pass", "drop", "tx", "redirect", "aborted"):
        p.add_argument(f"--{v}-out", metavar="FILE", help=f"write XDP_{v.upper()} packets here (pcap)")
    p.add_argument("--map-update", action="append", default=[], metavar="MAP:KEYHEX:VALUEHEX",
                   help="set a map entry before the replay (repeatable)")
    p.add_argument("--loop", type=int, default=1, help="play the trace N times (0: until interrupted)")
    p.add_argument("--engine", choices=("jit", "interp"), default=None,
                   help="default: jit (interp with --no-verify)")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the verifier")
    p.add_argument("--type", dest="prog_type", metavar="TYPE",
                   help="force the type of the --prog programs (a libbpf section name: xdp, xdp.frags, ...), "
                        "for legacy section names libbpf no longer knows")
    p.add_argument("--batch", type=int, default=256, help="packets per batch (default 256)")
    p.add_argument("--ifindex", type=int, default=1, help="ctx->ingress_ifindex (default 1, as a test run)")
    p.add_argument("--rate", default="max", metavar="max|pcap|N",
                   help="pacing: max (flat out), pcap (trace timestamps), or N packets/s")
    p.add_argument("--speed", type=float, default=None, help="with --rate pcap: times real time (default 1)")
    p.add_argument("--ifindex-map", default=None, metavar="ID=IFINDEX,...",
                   help="pcapng interface id -> ingress ifindex (default: id + 1)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker threads, worker i as CPU i (default 1; flat out only)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="keep the single-worker order (default: on for 1 worker, off for N)")
    p.add_argument("-j", "--json", dest="json_local", action="store_true", help="JSON output (as the global -j)")
    p.set_defaults(func=run)


def _split_prog(text: str) -> tuple[str, str | None]:
    # OBJ[:NAME]: a path may hold ':' only before the last one
    if ":" in text:
        obj, name = text.rsplit(":", 1)
        if obj and name and "/" not in name:
            return obj, name
    return text, None


def _load_chain(args):
    from dataplane.hooks import bind
    from dataplane.kfuncs import default_registry
    from dataplane.replay import apply_map_updates, parse_map_update
    from dataplane.runtime.collection import Collection

    from dataplane.cli.prog_cmd import note_skipped
    colls: dict[str, object] = {}
    wanted: dict[str, list | None] = {}
    split = [_split_prog(spec) for spec in args.prog]
    for obj, name in split:   # per object: the named programs (none named: all of them)
        if name is None or wanted.get(obj, []) is None:
            wanted[obj] = None
        else:
            wanted.setdefault(obj, []).append(name)
    progs = []
    for obj, name in split:
        if obj not in colls:
            colls[obj] = Collection.load(obj, engine=args.engine, verify=args.verify, programs=wanted[obj],
                                         prog_type=getattr(args, "prog_type", None), kfuncs=default_registry())
            note_skipped(colls[obj])
        progs.append(bind(colls[obj], name))
    for u in args.map_update:
        name = parse_map_update(u)[0]
        owner = next((c for c in colls.values() if name in c.maps), next(iter(colls.values())))
        apply_map_updates(owner, [u])
    return progs


def _watch(r, stream) -> None:
    """Until the replay ends: a progress bar on ``stream`` (packets, Mpps, ETA; rich) when it is a
    terminal, nothing otherwise (piped output stays the summary alone)."""
    if not stream.isatty():
        while not r.join(0.2):
            pass
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    p = r.progress()
    finite = p.fraction is not None
    cols = [TextColumn("replay"), BarColumn(), TextColumn("{task.percentage:>5.1f}%")] if finite else \
        [TextColumn("replay (loop {task.fields[loop]})")]
    cols += [TextColumn("{task.fields[packets]:>12,} packets"), TextColumn("{task.fields[mpps]:6.2f} Mpps"),
             TimeElapsedColumn()]
    if finite:
        cols += [TextColumn("ETA"), TimeRemainingColumn()]
    with Progress(*cols, console=Console(file=stream), transient=True) as bar:
        task = bar.add_task("replay", total=1000 if finite else None, packets=0, mpps=0.0, loop=1)
        while not r.join(0.2):
            p = r.progress()
            mpps = p.packets / p.elapsed_s / 1e6 if p.elapsed_s else 0.0
            bar.update(task, completed=(p.fraction or 0.0) * 1000 if finite else None, packets=p.packets,
                       mpps=mpps, loop=p.loops_done + 1)


def run(args) -> int:
    from dataplane.replay import Replay

    as_json = args.json or args.json_local
    from dataplane.errors import DataplaneError
    ifmap = None
    if args.ifindex_map:
        try:
            ifmap = {int(a, 0): int(b, 0) for a, b in (x.split("=") for x in args.ifindex_map.split(","))}
        except ValueError:
            raise DataplaneError(f"--ifindex-map {args.ifindex_map!r}: expected ID=IFINDEX,...") from None
    progs = _load_chain(args)
    outputs = {v: getattr(args, f"{v}_out") for v in ("pass", "drop", "tx", "redirect", "aborted")}
    r = Replay(progs, args.pcap, loop=args.loop, outputs={k: v for k, v in outputs.items() if v}, batch=args.batch,
               ifindex=args.ifindex, rate=args.rate, speed=args.speed, ifindexes=ifmap, workers=args.workers,
               deterministic=args.deterministic)
    r.start()
    try:
        _watch(r, sys.stderr)
    except KeyboardInterrupt:
        r.cancel()
        r.join()
    s = r.wait(raise_error=False)
    if as_json:
        json.dump(s.to_dict(), sys.stdout)
        sys.stdout.write("\n")
    else:
        print(s.text())
    if s.error:
        print(f"Error: {s.error}", file=sys.stderr)
        return 2
    return 0
