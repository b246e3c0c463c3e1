"""`remote prog list | show ID | load FILE [--path] [--program NAME] [--name N] [--type T] | unload ID`."""
from __future__ import annotations

import os

from dataplane.cli.client import call

OBJECT = "prog"


def prog_line(p) -> str:
    return (f"{p.id}: {p.type}  name {p.name}  tag {p.tag}  object {p.object_name}({p.object_id})\n"
            f"\txlated {p.insn_count * 8}B  map_ids {','.join(map(str, p.map_ids)) or '-'}  "
            f"run_cnt {p.run_cnt}  run_time_ns {p.run_time_ns}  verified {str(p.verified).lower()}")


def register(what) -> None:
    prog = what.add_parser(OBJECT, help="programs").add_subparsers(dest="op", metavar="OP")
    prog.required = True
    prog.add_parser("list")
    prog.add_parser("show").add_argument("id", type=int)
    ld = prog.add_parser("load")
    ld.add_argument("file")
    ld.add_argument("--path", action="store_true", help="FILE is a path on the server (not uploaded)")
    ld.add_argument("--program", help="program name (default: all programs of the object)")
    ld.add_argument("--name", help="object name")
    ld.add_argument("--type", dest="prog_type", default="",
                    help="force the program type (a libbpf section name: xdp, xdp/cpumap, tc, ...)")
    prog.add_parser("unload").add_argument("id", type=int)


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    progs = rpc.ProgramsStub(ch)
    if args.op == "list":
        r = call(progs.List, pb.ListProgramsRequest())
        out(r, "\n".join(prog_line(p) for p in r.programs))
    elif args.op == "show":
        r = call(progs.Get, pb.GetProgramRequest(id=args.id))
        out(r, prog_line(r))
    elif args.op == "load":
        if args.path:
            req = pb.LoadRequest(path=args.file, program=args.program or "", name=args.name or "",
                                 type=args.prog_type)
        else:
            with open(args.file, "rb") as f:
                data = f.read()
            req = pb.LoadRequest(object=data, program=args.program or "",
                                 name=args.name or os.path.splitext(os.path.basename(args.file))[0],
                                 type=args.prog_type)
        r = call(progs.Load, req)
        out(r, "\n".join([prog_line(p) for p in r.programs] +
                         [f"skipped {s.name}: {s.reason}" for s in r.skipped]))
    elif args.op == "unload":
        r = call(progs.Unload, pb.UnloadRequest(id=args.id))
        out(r, f"unloaded object {r.object_id}")
    return 0
