"""`remote map list | lookup ID KEY | update ID KEY VALUE [--flags F] | delete ID KEY | dump ID
| push ID VALUE [--flags F] | peek ID [VALUE]
| create (--inner-of ID | TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES [--flags F] [--extra N]) [--name N] | free ID`.

KEY and VALUE are hex bytes ("01000000" or "01 00 00 00"), as bpftool's
``hex`` form; a map-in-map's VALUE is the inner map's id (a u32, where the
kernel takes an fd): `map create --inner-of OUTER` makes one.

Maps without keys (queue, stack, bloom filter) are pushed and peeked, as
bpftool's `map push` / `map peek` and the kernel's update / lookup on them:
`push` is an update with no key; `peek` on a queue or stack shows its next
value, on a bloom filter it asks whether VALUE may be in (when it is
certainly not: "not in the bloom filter", exit status 2, as ENOENT). A
bloom filter's `--extra` is its number of hash functions (map_extra)."""
from __future__ import annotations

import json

from dataplane.abi.maps import UPDATE_FLAGS as _FLAGS
from dataplane.cli.client import call, hexbytes, stream
from dataplane.errors import DataplaneError

OBJECT = "map"


def map_line(m) -> str:
    return (f"{m.id}: {m.type}  name {m.name}  flags 0x{m.flags:x}\n"
            f"\tkey {m.key_size}B  value {m.value_size}B  max_entries {m.max_entries}  entries {m.entries}")


def register(what) -> None:
    mp = what.add_parser(OBJECT, help="maps").add_subparsers(dest="op", metavar="OP")
    mp.required = True
    mp.add_parser("list")
    for op in ("lookup", "delete", "update"):
        q = mp.add_parser(op)
        q.add_argument("id", type=int)
        q.add_argument("key", help="hex bytes")
        if op == "update":
            q.add_argument("value", help="hex bytes")
            q.add_argument("--flags", choices=sorted(_FLAGS), default="any")
    q = mp.add_parser("push", help="push VALUE (queue, stack, bloom filter)")
    q.add_argument("id", type=int)
    q.add_argument("value", help="hex bytes")
    q.add_argument("--flags", choices=sorted(_FLAGS), default="any")
    q = mp.add_parser("peek", help="the next value (queue, stack); whether VALUE may be in (bloom filter)")
    q.add_argument("id", type=int)
    q.add_argument("value", nargs="?", default="", help="hex bytes (bloom filter)")
    c = mp.add_parser("create")
    c.add_argument("--inner-of", type=int, default=0, metavar="ID", help="copy this map-in-map's inner template")
    c.add_argument("attrs", nargs="*", metavar="TYPE KEY VALUE MAX", help="map type (name or number) and sizes")
    c.add_argument("--flags", dest="map_flags", type=lambda v: int(v, 0), default=0)
    c.add_argument("--name", default="")
    c.add_argument("--extra", dest="map_extra", type=lambda v: int(v, 0), default=0,
                   help="map_extra (a bloom filter's number of hash functions)")
    mp.add_parser("free").add_argument("id", type=int)
    d = mp.add_parser("dump")
    d.add_argument("id", type=int)
    d.add_argument("--batch", type=int, default=0, help="entries per streamed batch")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    maps = rpc.MapsStub(ch)
    if args.op == "list":
        r = call(maps.List, pb.ListMapsRequest())
        out(r, "\n".join(map_line(m) for m in r.maps))
    elif args.op == "lookup":
        r = call(maps.Lookup, pb.LookupRequest(map_id=args.id, key=hexbytes(args.key)))
        out(r, f"key: {hexbytes(args.key).hex(' ')}  value: {r.value.hex(' ')}")
    elif args.op == "update":
        call(maps.Update, pb.UpdateRequest(map_id=args.id, key=hexbytes(args.key), value=hexbytes(args.value),
                                           flags=_FLAGS[args.flags]))
    elif args.op == "push":
        call(maps.Update, pb.UpdateRequest(map_id=args.id, value=hexbytes(args.value), flags=_FLAGS[args.flags]))
    elif args.op == "peek":
        probe = hexbytes(args.value)
        r = call(maps.Lookup, pb.LookupRequest(map_id=args.id, value=probe))
        out(r, f"value: {r.value.hex(' ')}" + ("  (may be in the filter)" if probe else ""))
    elif args.op == "delete":
        call(maps.Delete, pb.DeleteRequest(map_id=args.id, key=hexbytes(args.key)))
    elif args.op == "create":
        req = pb.CreateMapRequest(inner_of=args.inner_of, name=args.name, flags=args.map_flags,
                                  map_extra=args.map_extra)
        if not args.inner_of:
            from dataplane.abi.maps import MAP_TYPES_BY_NAME
            if len(args.attrs) != 4:
                raise DataplaneError("map create: give --inner-of ID or TYPE KEY_SIZE VALUE_SIZE MAX_ENTRIES")
            t = args.attrs[0]
            req.type_id = MAP_TYPES_BY_NAME[t] if t in MAP_TYPES_BY_NAME else int(t, 0)
            req.key_size, req.value_size, req.max_entries = (int(x, 0) for x in args.attrs[1:])
        r = call(maps.Create, req)
        out(r, map_line(r))
    elif args.op == "free":
        call(maps.Free, pb.FreeMapRequest(map_id=args.id))
    elif args.op == "dump":
        entries = []
        for batch in stream(maps.Dump, pb.DumpRequest(map_id=args.id, batch_size=args.batch)):
            entries.extend(batch.entries)
        if args.json:
            print(json.dumps([{"key": e.key.hex(), "value": e.value.hex()} for e in entries]))
        else:
            for e in entries:
                print(f"key: {e.key.hex(' ')}  value: {e.value.hex(' ')}")
            print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
    return 0
