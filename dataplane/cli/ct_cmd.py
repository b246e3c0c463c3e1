"""`dataplane ct` verb: the conntrack table of a program run over packets.

    dataplane ct list  OBJ --prog NAME --pcap FILE [--engine jit|interp] [-j]
    dataplane ct stats OBJ --prog NAME --pcap FILE [-j]
    dataplane ct flush OBJ --prog NAME --pcap FILE [-j]

Loads the object (its conntrack kfuncs get a fresh table), runs every
packet of the pcap through the program in order, then prints the table in
the `conntrack -L` line format (or JSON), its statistics, or flushes it and
reports how many entries were removed. A running service exposes the same
tables through dataplane.conntrack.named / Collection.conntrack.
"""
from __future__ import annotations

import json
import sys

from dataplane.conntrack.format import format_entries, format_stats


def render_list(entries: list[dict], as_json: bool = False) -> str:
    if as_json:
        return json.dumps(entries, sort_keys=True) + "\n"
    return format_entries(entries)


def render_stats(stats: dict, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(stats, sort_keys=True) + "\n"
    return format_stats(stats) + "\n"


def _run(args):
    from dataplane.io.pcap import PcapReader
    from dataplane.kfuncs import default_registry
    from dataplane.runtime.collection import Collection
    coll = Collection.load(args.obj, engine=args.engine, kfuncs=default_registry())
    coll.program(args.prog)
    verdicts: dict[int, int] = {}
    with PcapReader(args.pcap) as r:
        for _ts, pkt in r.packets():
            v = coll.run(args.prog, pkt)[0]
            verdicts[v] = verdicts.get(v, 0) + 1
    if coll.conntrack is None:
        from dataplane.errors import LoadError
        raise LoadError(f"{args.obj}: no program calls a conntrack kfunc (no table)")
    return coll, verdicts


def _main(args) -> int:
    as_json = bool(getattr(args, "json", False) or args.json_local)
    coll, verdicts = _run(args)
    table, now = coll.conntrack, coll.runner.ct.now
    if args.action == "list":
        sys.stdout.write(render_list(table.entries(now), as_json))
    elif args.action == "stats":
        sys.stdout.write(render_stats(table.stats(), as_json))
    else:
        n = table.flush()
        sys.stdout.write(json.dumps({"flushed": n}) + "\n" if as_json
                         else f"conntrack table has been emptied ({n} flow entries deleted)\n")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("ct", help="conntrack table of a program run over a pcap (list, stats, flush)")
    p.add_argument("action", choices=["list", "stats", "flush"])
    p.add_argument("obj", help="BPF object file whose programs call the conntrack kfuncs")
    p.add_argument("--prog", required=True, help="program to run")
    p.add_argument("--pcap", required=True, help="packets to run through it, in order")
    p.add_argument("--engine", choices=("interp", "jit"), default=None)
    p.add_argument("-j", "--json", dest="json_local", action="store_true", help="JSON output")
    p.set_defaults(func=_main)
