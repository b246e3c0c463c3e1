"""`remote hook list [HOOK] | attach HOOK PROG_ID [--first|--before ID|--after ID|--replace ID]
[--revision N] | detach (LINK_ID | HOOK PROG_ID) [--revision N]`.

A hook listing prints the chain in run order with each program's verdict
counts."""
from __future__ import annotations

from dataplane.cli.client import call, counts

OBJECT = "hook"
_POSITIONS = {"last": 0, "first": 1, "before": 2, "after": 3, "replace": 4}


def hook_text(r) -> str:
    lines = []
    for h in r.hooks:
        lines.append(f"{h.name}  revision {h.revision}  programs {len(h.chain)}")
        by_prog = {c.program_id: c for c in h.counters}
        for a in h.chain:
            c = by_prog.get(a.program_id)
            extra = ""
            if c is not None:
                extra = f"  run_cnt {c.run_cnt}  run_time_ns {c.run_time_ns}  {counts(c.packets) or 'no packets'}"
            lines.append(f"\t{a.priority}: prog {a.program_id} {a.program_name}  link {a.link_id}{extra}")
    return "\n".join(lines)


def register(what) -> None:
    hk = what.add_parser(OBJECT, help="hooks: attachment points and their chains").add_subparsers(dest="op",
                                                                                                 metavar="OP")
    hk.required = True
    hk.add_parser("list").add_argument("hook", nargs="?")
    at = hk.add_parser("attach", help="attach a loaded program (default: append to the chain)")
    at.add_argument("hook")
    at.add_argument("prog_id", type=int)
    g = at.add_mutually_exclusive_group()
    g.add_argument("--first", action="store_true", help="prepend")
    g.add_argument("--before", type=int, metavar="PROG_ID")
    g.add_argument("--after", type=int, metavar="PROG_ID")
    g.add_argument("--replace", type=int, metavar="PROG_ID")
    at.add_argument("--revision", type=int, default=0, help="expected hook revision (ABORTED if stale)")
    dt = hk.add_parser("detach", help="detach by LINK_ID, or by HOOK PROG_ID")
    dt.add_argument("target", metavar="LINK_ID|HOOK")
    dt.add_argument("prog_id", type=int, nargs="?")
    dt.add_argument("--revision", type=int, default=0)


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    hooks = rpc.HooksStub(ch)
    if args.op == "list":
        r = call(hooks.List, pb.ListHooksRequest(hook=args.hook or ""))
        out(r, hook_text(r))
    elif args.op == "attach":
        pos, rel = "last", 0
        for name in ("before", "after", "replace"):
            if getattr(args, name):
                pos, rel = name, getattr(args, name)
        if args.first:
            pos = "first"
        r = call(hooks.Attach, pb.AttachRequest(program_id=args.prog_id, hook=args.hook, position=_POSITIONS[pos],
                                                relative_program_id=rel, expected_revision=args.revision))
        out(r, f"link {r.attachment.link_id}: prog {r.attachment.program_id} attached to {args.hook} "
               f"at {r.attachment.priority}  revision {r.revision}")
    elif args.op == "detach":
        if args.prog_id is None:
            if not args.target.isdigit():
                from dataplane.errors import DataplaneError
                raise DataplaneError("detach: give LINK_ID, or HOOK PROG_ID")
            req = pb.DetachRequest(link_id=int(args.target), expected_revision=args.revision)
        else:
            req = pb.DetachRequest(hook=args.target, program_id=args.prog_id, expected_revision=args.revision)
        r = call(hooks.Detach, req)
        out(r, f"detached  revision {r.revision}")
    return 0
