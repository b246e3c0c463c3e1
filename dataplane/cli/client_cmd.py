"""Client verbs: talk to a running `dataplane serve` over gRPC.

Two spellings of the same commands (one module per OBJECT in
``dataplane/cli/client/``):

    dataplane --server ADDR OBJECT OP ...       # bpftool-like: the global --server switches verbs to remote
    dataplane remote [--server ADDR] OBJECT OP ...

    OBJECT OP:
      prog   list | show ID | load FILE [--program NAME] [--name N] | unload ID
      map    list | lookup ID KEY | update ID KEY VALUE [--flags any|noexist|exist] | delete ID KEY | dump ID
      hook   list [HOOK] | attach HOOK PROG_ID [--first | --before ID | --after ID | --replace ID]
                           [--revision N] | detach (LINK_ID | HOOK PROG_ID) [--revision N]
      replay start HOOK PCAP [--loop N|forever] [--pass-out F] [--drop-out F] ... [--name N] [--watch]
             | watch ID | stop ID | list
      ct     list | flush | stats
      info

Without ``--server`` the verbs named like local ones (``prog``, ``ct``) act
locally, on object files or an in-process table; with it they always act on
the server.  ADDR defaults to $DATAPLANE_SERVER or 127.0.0.1:50051 for
``remote``.  KEY and VALUE are hex bytes ("01000000" or "01 00 00 00"), as
bpftool's ``hex`` form; paths given to ``replay start`` and ``prog load
--path`` are paths on the server.  Remote errors become DataplaneErrors with
the server's message (and the verifier log on a rejected load), so exit codes
match local verbs; ``-j`` prints the response messages as JSON.
"""
from __future__ import annotations

import json
import os

from dataplane.cli import client

DEFAULT_SERVER = "127.0.0.1:50051"


def run(args) -> int:
    import grpc

    def out(msg, text):
        if args.json:
            print(json.dumps(client.as_dict(msg)))
        elif text:
            print(text)

    with grpc.insecure_channel(args.server) as ch:
        return args.client_run(args, ch, out)


def split_server(argv: list[str]) -> list[str]:
    """``[-j] --server ADDR VERB ...`` -> ``[-j] remote --server ADDR VERB ...``.

    Only a --server among the leading global options counts, so options of
    the verbs themselves (``remote --server``) are left alone."""
    head, i, server = [], 0, None
    while i < len(argv) and argv[i].startswith("-"):
        a = argv[i]
        if a == "--server" and i + 1 < len(argv):
            server, i = argv[i + 1], i + 2
            continue
        if a.startswith("--server="):
            server, i = a.split("=", 1)[1], i + 1
            continue
        head.append(a)
        i += 1
    if server is None:
        return argv
    return head + ["remote", "--server", server] + argv[i:]


def register(sub) -> None:
    p = sub.add_parser("remote", help="control a running `dataplane serve` over gRPC (or: dataplane --server ADDR ...)")
    p.add_argument("--server", metavar="ADDR", default=os.environ.get("DATAPLANE_SERVER", DEFAULT_SERVER),
                   help=f"gRPC address (default $DATAPLANE_SERVER or {DEFAULT_SERVER})")
    what = p.add_subparsers(dest="what", metavar="OBJECT")
    what.required = True
    for mod in client.modules():
        mod.register(what)
        what.choices[mod.OBJECT].set_defaults(client_run=mod.run)
    p.set_defaults(func=run)
