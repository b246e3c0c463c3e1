"""`dataplane iptables -L [CHAIN] -v -n [-x] --iface IFACE`,
`dataplane iptables log --iface IFACE` and `dataplane iptables detach --iface IFACE`.

-L prints the attached ruleset with its counters in the column format
``iptables -L -v -n [-x]`` prints (the tests compare it byte for byte with
iptables itself); -v and -n are required (names are never resolved, and
the counter columns are what this is for).  ``log`` prints the LOG events
the program wrote to its ring buffer since the last read, one kernel-style
line each.
"""
from __future__ import annotations

import sys

from dataplane.errors import DataplaneError


def _main(args) -> int:
    from dataplane.filter import kattach
    if args.action == "detach":
        if not kattach.detach(args.iface):
            raise DataplaneError(f"no iptables ruleset is attached to {args.iface}", kind=2)
        return 0
    rs, meta = kattach.ruleset(args.iface)
    if args.action == "log":
        from dataplane.filter.binding import binding
        from dataplane.filter.log import format_event
        b = binding([tuple(x) for x in meta["ifaces"]], meta["chain"])
        names = {i: n for n, i in b.ifaces}
        for rec in kattach.log_records(args.iface):
            print(format_event(rec, rs, names, b.out_of))
        return 0
    if args.list is None:
        raise DataplaneError("give -L [CHAIN] or `log`")
    if not (args.verbose and args.numeric):
        raise DataplaneError("only the -L -v -n [-x] listing is implemented (give -v -n)")
    from dataplane.filter.listing import listing
    n = len(rs.all_rules()) + len(rs.builtins())
    sys.stdout.write(listing(rs, kattach.counters(args.iface, n), args.list or None, exact=args.exact))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("iptables", help="iptables -L -v -n [-x] / LOG events of an attached ruleset")
    p.add_argument("action", nargs="?", choices=["log", "detach"],
                   help="log: print LOG events; detach: remove the program from the interface")
    p.add_argument("-L", "--list", nargs="?", const="", metavar="CHAIN", help="list rules with counters")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-n", "--numeric", action="store_true")
    p.add_argument("-x", "--exact", action="store_true")
    p.add_argument("--iface", required=True, help="interface the ruleset was attached to")
    p.set_defaults(func=_main)
