"""`dataplane top`: the same as `dataplane remote top` (cli/client/top.py), spelled like top(1).

The connection options (``--server``, and any other option ``remote`` takes
before its object, such as TLS or token options) go to ``remote``, the
rest to its ``top``.
"""
from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("top", help="live per-hook/program counters and rates of a running service (= remote top)")
    p.add_argument("--server", metavar="ADDR", help="gRPC address (default: as `remote`)")
    p.add_argument("--interval", metavar="SECONDS", help="refresh period (default 1 s)")
    p.add_argument("--count", metavar="N", help="stop after N refreshes (default: until ^C)")
    p.add_argument("--hook", help="only this hook")
    p.add_argument("conn", nargs=argparse.REMAINDER, help="other `remote` options (TLS, token)")
    p.set_defaults(func=run)


def run(args) -> int:
    from dataplane.cli import main
    conn = (["--server", args.server] if args.server else []) + list(args.conn)
    top = [x for k in ("interval", "count", "hook") if getattr(args, k) is not None
           for x in (f"--{k}", getattr(args, k))]
    return main((["-j"] if args.json else []) + ["remote", *conn, "top", *top])
