"""`dataplane remote ...`: talk to a running `dataplane serve` over gRPC.

    dataplane remote [--server ADDR] prog list | show ID | load FILE [--program NAME] | unload ID
    dataplane remote [--server ADDR] map list | lookup ID KEY | update ID KEY VALUE [--flags any|noexist|exist]
                                     | delete ID KEY | dump ID [--batch N]
    dataplane remote [--server ADDR] info

KEY and VALUE are hex bytes ("01000000" or "01 00 00 00"), as bpftool's
`hex` form.  Remote errors become DataplaneErrors with the server's message
(and the verifier log on a rejected load), so exit codes match local verbs.
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
    return DataplaneError(f"{exc.code().name}: {exc.details()}", kind=int(md.get(ERRNO_KEY, errno.EIO)))


def _call(fn, request):
    import grpc
    try:
        return fn(request, timeout=TIMEOUT)
    except grpc.RpcError as exc:
        raise _translate(exc) from None


def _prog_line(p) -> str:
    return (f"{p.id}: {p.type}  name {p.name}  tag {p.tag}  object {p.object_name}({p.object_id})\n"
            f"\txlated {p.insn_count * 8}B  map_ids {','.join(map(str, p.map_ids)) or '-'}  "
            f"run_cnt {p.run_cnt}  run_time_ns {p.run_time_ns}  verified {str(p.verified).lower()}")


def _map_line(m) -> str:
    return (f"{m.id}: {m.type}  name {m.name}  flags 0x{m.flags:x}\n"
            f"\tkey {m.key_size}B  value {m.value_size}B  max_entries {m.max_entries}  entries {m.entries}")


def run(args) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from dataplane.service.protos import pb, rpc

    def out(msg, text):
        if args.json:
            print(json.dumps(MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)))
        else:
            print(text)

    with grpc.insecure_channel(args.server) as ch:
        progs, maps, svc = rpc.ProgramsStub(ch), rpc.MapsStub(ch), rpc.ServiceStub(ch)
        if args.what == "info":
            r = _call(svc.Info, pb.InfoRequest())
            out(r, f"version {r.version}  uptime {r.uptime_seconds:.1f}s  programs {r.programs_loaded}  "
                   f"maps {r.maps_loaded}")
        elif args.what == "prog":
            if args.op == "list":
                r = _call(progs.List, pb.ListProgramsRequest())
                out(r, "\n".join(_prog_line(p) for p in r.programs))
            elif args.op == "show":
                r = _call(progs.Get, pb.GetProgramRequest(id=args.id))
                out(r, _prog_line(r))
            elif args.op == "load":
                with open(args.file, "rb") as f:
                    data = f.read()
                r = _call(progs.Load, pb.LoadRequest(object=data, program=args.program or "",
                                                     name=args.name or os.path.splitext(os.path.basename(args.file))[0]))
                out(r, "\n".join(_prog_line(p) for p in r.programs))
            elif args.op == "unload":
                r = _call(progs.Unload, pb.UnloadRequest(id=args.id))
                out(r, f"unloaded object {r.object_id}")
        elif args.what == "map":
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
    return 0


def register(sub) -> None:
    p = sub.add_parser("remote", help="control a running `dataplane serve` over gRPC")
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
    p.set_defaults(func=run)
