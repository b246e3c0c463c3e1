"""`remote ct list | flush | stats`: the service's conntrack table.

`ct list` prints `conntrack -L` lines with conntrack's summary on stderr."""
from __future__ import annotations

import sys

from dataplane.cli.client import call

OBJECT = "ct"
CT_PAGE = 2000         # conntrack entries per List page


def register(what) -> None:
    ct = what.add_parser(OBJECT, help="the service's conntrack table").add_subparsers(dest="op", metavar="OP")
    ct.required = True
    for op in ("list", "flush", "stats"):
        ct.add_parser(op)


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.ConntrackStub(ch)
    if args.op == "list":
        # paged, so a big table never becomes one huge message (the
        # server's default receive/send limits are 4 MiB)
        r = call(stub.List, pb.ListConntrackRequest(page_size=CT_PAGE))
        while r.next_page_token:
            more = call(stub.List, pb.ListConntrackRequest(page_size=CT_PAGE, page_token=r.next_page_token))
            r.entries.extend(more.entries)
            r.next_page_token = more.next_page_token
        out(r, "".join(e.line + "\n" for e in r.entries).rstrip("\n"))
        if not args.json:
            from dataplane.conntrack.format import summary_line
            print(summary_line(len(r.entries)), file=sys.stderr)
    elif args.op == "flush":
        r = call(stub.Flush, pb.FlushConntrackRequest())
        out(r, f"connection tracking table has been emptied ({r.flushed} entries)")
    elif args.op == "stats":
        r = call(stub.Stats, pb.ConntrackStatsRequest())
        fields = " ".join(f"{k}={v}" for k, v in sorted(r.counters.items()))
        out(r, f"entries={r.entries} max_entries={r.max_entries} {fields}")
    return 0
