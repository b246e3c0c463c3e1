"""`remote iptables restore | save | list | log | remove`: a running service's
filters (``dataplane --server ADDR iptables ...``).

    iptables restore --hook H [-c] [--chain C] [--iface N ...] [--ipset F] [--filter-only] [FILE]
    iptables save --hook H [-c]
    iptables list --hook H [CHAIN] [-x]          (iptables -L -v -n [-x] text)
    iptables log --hook H [--follow]
    iptables remove --hook H
"""
from __future__ import annotations

import sys

from dataplane.cli.client import call, stream

OBJECT = "iptables"


def register(what) -> None:
    p = what.add_parser(OBJECT, help="iptables rulesets as hook programs").add_subparsers(dest="op", metavar="OP")
    p.required = True
    r = p.add_parser("restore")
    r.add_argument("file", nargs="?")
    r.add_argument("--hook", required=True)
    r.add_argument("-c", "--counters", action="store_true")
    r.add_argument("--chain", choices=("INPUT", "FORWARD"))
    r.add_argument("--iface", action="append", default=[])
    r.add_argument("--ipset")
    r.add_argument("--filter-only", action="store_true")
    s = p.add_parser("save")
    s.add_argument("--hook", required=True)
    s.add_argument("-c", "--counters", action="store_true")
    ls = p.add_parser("list")
    ls.add_argument("chain", nargs="?", default="")
    ls.add_argument("--hook", required=True)
    ls.add_argument("-x", "--exact", action="store_true")
    lg = p.add_parser("log")
    lg.add_argument("--hook", required=True)
    lg.add_argument("--follow", action="store_true")
    rm = p.add_parser("remove")
    rm.add_argument("--hook", required=True)


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.FilterStub(ch)
    if args.op == "restore":
        rules = open(args.file).read() if args.file and args.file != "-" else sys.stdin.read()
        sets = open(args.ipset).read() if args.ipset else ""
        r = call(stub.Restore, pb.RestoreFilterRequest(hook=args.hook, rules=rules, ipset=sets,
                                                      counters=args.counters, chain=args.chain or "",
                                                      interfaces=args.iface, filter_only=args.filter_only))
        out(r, f"hook {args.hook}: {r.rules} rules -> program {r.program_id} ({r.instructions} instructions, "
               f"{r.groups} lookup groups), chain {r.chain}, revision {r.revision}")
    elif args.op == "save":
        r = call(stub.Save, pb.SaveFilterRequest(hook=args.hook, counters=args.counters))
        out(r, r.text.rstrip("\n"))
    elif args.op == "list":
        r = call(stub.List, pb.ListFilterRequest(hook=args.hook, chain=args.chain, exact=args.exact))
        out(r, r.text.rstrip("\n"))
    elif args.op == "log":
        for ev in stream(stub.Log, pb.FilterLogRequest(hook=args.hook, follow=args.follow),
                         timeout=None if args.follow else 30.0):
            out(ev, ev.line)
    elif args.op == "remove":
        r = call(stub.Remove, pb.RemoveFilterRequest(hook=args.hook))
        out(r, f"hook {args.hook}: filter removed, revision {r.revision}")
    return 0
