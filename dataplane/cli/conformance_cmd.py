"""``dataplane conformance-plugin``: the BPF conformance suite's plugin.

Usage as the suite runs it::

    echo "b7 00 00 00 03 00 00 00 95 00 00 00 00 00 00 00" | dataplane conformance-plugin [MEM_HEX] [--engine interp]

prints r0 in hex. Imports stay inside the handler: the suite starts one
process per test, so start-up time is most of the cost.
"""
from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "conformance-plugin",
        help="run a program from stdin (hex bytes) the way the BPF conformance suite expects",
        description="Read a BPF program as whitespace-separated hex bytes on stdin, run it with "
        "r1 = a writable copy of MEM_HEX (r2 = its length), print r0 in hex.",
    )
    p.add_argument("mem", nargs="?", default="", metavar="MEM_HEX", help="input memory as hex bytes")
    p.add_argument("--engine", default="interp", help="execution engine (default: interp)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from dataplane.runtime import conformance

    code = conformance.parse_hex(sys.stdin.read(), "program")
    mem = conformance.parse_hex(args.mem, "memory")
    r0 = conformance.run(code, mem, args.engine)
    sys.stdout.write(conformance.format_result(r0) + "\n")
    return 0
