"""Client verbs: talk to a running `dataplane serve` over gRPC.

Two spellings of the same commands:

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

import errno
import json
import os

DEFAULT_SERVER = "127.0.0.1:50051"
TIMEOUT = 30.0
_FLAGS = {"any": 0, "noexist": 1, "exist": 2}


def _hex(text: str) -> bytes:
    from dataplane.errors import DataplaneError
    try:
        return bytes.fromhex(text.replace("0x", "").replace(":", " "))
    except ValueError as exc:
        raise DataplaneError(f"bad hex bytes {text!r}: {exc}") from exc


def _translate(exc):
    """grpc.RpcError -> the DataplaneError the server mapped it from."""
    from dataplane.errors import DataplaneError, VerifierError
    from dataplane.service.errors import ERRNO_KEY, VERIFIER_LOG_KEY
    md = dict(exc.trailing_metadata() or ())
    if VERIFIER_LOG_KEY in md:
        return VerifierError(exc.details(), md[VERIFIER_LOG_KEY].decode("utf-8", "replace"))
    if exc.code().name == "UNAVAILABLE":
        return DataplaneError(f"UNAVAILABLE: no dataplane service answers ({exc.details()})",
                              kind=errno.ECONNREFUSED)
    return DataplaneError(f"{exc.code().name}: {exc.details()}", kind=int(md.get(ERRNO_KEY, errno.EIO)))


def _call(fn, request):
    import grpc
    try:
        return fn(request, timeout=TIMEOUT)
    except grpc.RpcError as exc:
        raise _translate(exc) from None


def as_dict(msg) -> dict:
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _prog_line(p) -> str:
    return (f"{p.id}: {p.type}  name {p.name}  tag {p.tag}  object {p.object_name}({p.object_id})\n"
            f"\txlated {p.insn_count * 8}B  map_ids {','.join(map(str, p.map_ids)) or '-'}  "
            f"run_cnt {p.run_cnt}  run_time_ns {p.run_time_ns}  verified {str(p.verified).lower()}")


def _map_line(m) -> str:
    return (f"{m.id}: {m.type}  name {m.name}  flags 0x{m.flags:x}\n"
            f"\tkey {m.key_size}B  value {m.value_size}B  max_entries {m.max_entries}  entries {m.entries}")


def _prog_map(args, ch, out) -> None:
    import grpc

    from dataplane.service.protos import pb, rpc
    progs, maps = rpc.ProgramsStub(ch), rpc.MapsStub(ch)
    if args.what == "prog":
        if args.op == "list":
            r = _call(progs.List, pb.ListProgramsRequest())
            out(r, "\n".join(_prog_line(p) for p in r.programs))
        elif args.op == "show":
            r = _call(progs.Get, pb.GetProgramRequest(id=args.id))
            out(r, _prog_line(r))
        elif args.op == "load":
            if args.path:
                req = pb.LoadRequest(path=args.file, program=args.program or "", name=args.name or "")
            else:
                with open(args.file, "rb") as f:
                    data = f.read()
                req = pb.LoadRequest(object=data, program=args.program or "",
                                     name=args.name or os.path.splitext(os.path.basename(args.file))[0])
            r = _call(progs.Load, req)
            out(r, "\n".join(_prog_line(p) for p in r.programs))
        elif args.op == "unload":
            r = _call(progs.Unload, pb.UnloadRequest(id=args.id))
            out(r, f"unloaded object {r.object_id}")
        return
    if args.op == "list":
        r = _call(maps.List, pb.ListMapsRequest())
        out(r, "\n".join(_map_line(m) for m in r.maps))
    elif args.op == "lookup":
        r = _call(maps.Lookup, pb.LookupRequest(map_id=args.id, key=_hex(args.key)))
        out(r, f"key: {_hex(args.key).hex(' ')}  value: {r.value.hex(' ')}")
    elif args.op == "update":
        _call(maps.Update, pb.UpdateRequest(map_id=args.id, key=_hex(args.key), value=_hex(args.value),
                                            flags=_FLAGS[args.flags]))
    elif args.op == "delete":
        _call(maps.Delete, pb.DeleteRequest(map_id=args.id, key=_hex(args.key)))
    elif args.op == "dump":
        entries = []
        try:
            for batch in maps.Dump(pb.DumpRequest(map_id=args.id, batch_size=args.batch), timeout=TIMEOUT):
                entries.extend(batch.entries)
        except grpc.RpcError as exc:
            raise _translate(exc) from None
        if args.json:
            print(json.dumps([{"key": e.key.hex(), "value": e.value.hex()} for e in entries]))
        else:
            for e in entries:
                print(f"key: {e.key.hex(' ')}  value: {e.value.hex(' ')}")
            print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")


def run(args) -> int:
    import grpc

    from dataplane.cli import client_flow
    from dataplane.service.protos import pb, rpc

    def out(msg, text):
        if args.json:
            print(json.dumps(as_dict(msg)))
        elif text:
            print(text)

    with grpc.insecure_channel(args.server) as ch:
        if args.what == "info":
            r = _call(rpc.ServiceStub(ch).Info, pb.InfoRequest())
            out(r, f"version {r.version}  uptime {r.uptime_seconds:.1f}s  programs {r.programs_loaded}  "
                   f"maps {r.maps_loaded}")
        elif args.what in ("prog", "map"):
            _prog_map(args, ch, out)
        else:
            return client_flow.run(args, ch, out)
    return 0


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
    from dataplane.cli import client_flow
    p = sub.add_parser("remote", help="control a running `dataplane serve` over gRPC (or: dataplane --server ADDR ...)")
    p.add_argument("--server", metavar="ADDR", default=os.environ.get("DATAPLANE_SERVER", DEFAULT_SERVER),
                   help=f"gRPC address (default $DATAPLANE_SERVER or {DEFAULT_SERVER})")
    what = p.add_subparsers(dest="what", metavar="OBJECT")
    what.required = True
    what.add_parser("info", help="service version and uptime")

    prog = what.add_parser("prog", help="programs").add_subparsers(dest="op", metavar="OP")
    prog.required = True
    prog.add_parser("list")
    prog.add_parser("show").add_argument("id", type=int)
    ld = prog.add_parser("load")
    ld.add_argument("file")
    ld.add_argument("--path", action="store_true", help="FILE is a path on the server (not uploaded)")
    ld.add_argument("--program", help="program name (default: all programs of the object)")
    ld.add_argument("--name", help="object name")
    prog.add_parser("unload").add_argument("id", type=int)

    mp = what.add_parser("map", help="maps").add_subparsers(dest="op", metavar="OP")
    mp.required = True
    mp.add_parser("list")
    for op in ("lookup", "delete", "update"):
        q = mp.add_parser(op)
        q.add_argument("id", type=int)
        q.add_argument("key", help="hex bytes")
        if op == "update":
            q.add_argument("value", help="hex bytes")
            q.add_argument("--flags", choices=sorted(_FLAGS), default="any")
    d = mp.add_parser("dump")
    d.add_argument("id", type=int)
    d.add_argument("--batch", type=int, default=0, help="entries per streamed batch")
    client_flow.register(what)
    p.set_defaults(func=run)
