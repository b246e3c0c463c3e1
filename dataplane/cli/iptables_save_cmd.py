"""`dataplane iptables-save [-c] --iface IFACE`: the ruleset attached to
IFACE by ``iptables-restore --attach-kernel``, in iptables-save format,
with the program's per-rule counters (``-c``) read from its pinned
``iptables_counters`` map."""
from __future__ import annotations

import sys


def _main(args) -> int:
    from dataplane.filter.kattach import counters, ruleset
    from dataplane.filter.save import save
    rs, _ = ruleset(args.iface)
    n = len(rs.all_rules()) + len(rs.builtins())
    sys.stdout.write(save(rs, counters(args.iface, n), with_counters=args.counters))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("iptables-save", help="the attached ruleset in iptables-save format (-c: counters)")
    p.add_argument("-c", "--counters", action="store_true", help="print [packets:bytes] of every rule")
    p.add_argument("--iface", required=True, help="interface the ruleset was attached to")
    p.set_defaults(func=_main)
