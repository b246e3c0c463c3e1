"""A running service's filters, in iptables' spellings (``dataplane --server ADDR ...``):

    iptables-restore --hook H [-c] [--chain C] [--iface N ...] [--ipset F] [--filter-only] [FILE]
    iptables-save --hook H [-c]
    iptables -L [CHAIN] -v -n [-x] --hook H      (iptables -L -v -n [-x] text; also `iptables list`)
    iptables log --hook H [--follow]
    iptables remove --hook H
"""
from __future__ import annotations

import sys

from dataplane.cli.client import call, stream

OBJECT = "iptables"


def _restore_args(r) -> None:
    r.add_argument("file", nargs="?")
    r.add_argument("--hook", required=True)
    r.add_argument("-c", "--counters", action="store_true")
    r.add_argument("--chain", choices=("INPUT", "FORWARD"))
    r.add_argument("--iface", action="append", default=[])
    r.add_argument("--ipset")
    r.add_argument("--filter-only", action="store_true")


def register(what) -> None:
    # iptables' own spellings: --server ADDR iptables-restore / iptables-save / iptables -L
    r = what.add_parser("iptables-restore", help="restore a hook's iptables ruleset")
    _restore_args(r)
    r.set_defaults(op="restore", client_run=run)
    s = what.add_parser("iptables-save", help="a hook's iptables ruleset (-c: counters)")
    s.add_argument("--hook", required=True)
    s.add_argument("-c", "--counters", action="store_true")
    s.set_defaults(op="save", client_run=run)
    p = what.add_parser(OBJECT, help="iptables rulesets as hook programs: -L, log, remove")
    p.add_argument("op", nargs="?", choices=["list", "log", "remove"])
    p.add_argument("-L", "--list", dest="chain", nargs="?", const="", default=None, metavar="CHAIN")
    p.add_argument("--hook", required=True)
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-n", "--numeric", action="store_true")
    p.add_argument("-x", "--exact", action="store_true")
    p.add_argument("--follow", action="store_true", help="log: keep streaming")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    stub = rpc.FilterStub(ch)
    if args.op is None:
        if args.chain is None:
            from dataplane.errors import DataplaneError
            raise DataplaneError("give -L [CHAIN], log or remove")
        args.op = "list"
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
        r = call(stub.List, pb.ListFilterRequest(hook=args.hook, chain=args.chain or "", exact=args.exact))
        out(r, r.text.rstrip("\n"))
    elif args.op == "log":
        for ev in stream(stub.Log, pb.FilterLogRequest(hook=args.hook, follow=args.follow),
                         timeout=None if args.follow else 30.0):
            out(ev, ev.line)
    elif args.op == "remove":
        r = call(stub.Remove, pb.RemoveFilterRequest(hook=args.hook))
        out(r, f"hook {args.hook}: filter removed, revision {r.revision}")
    return 0
