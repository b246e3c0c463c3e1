"""`remote hook list [HOOK] | show HOOK | attach HOOK PROG_ID [position] [--link] [--pin first|last]
[--proceed-on V,..] [--revision N] | detach (LINK_ID | HOOK PROG_ID | HOOK --head|--tail) [--revision N]
| place HOOK userspace|kernel [--interface IF] [--mode auto|native|generic] | delete HOOK`.

Positions as bpf_mprog has them: ``--first`` (prepend: BPF_F_BEFORE), the
default appends, ``--before/--after PROG_ID``, ``--before-link/--after-link
LINK_ID``, ``--replace PROG_ID``. ``--pin first|last`` holds the entry at the
head / tail for its lifetime (a dataplane extension). ``--link`` attaches
through a link (BPF_LINK_CREATE; then `link update|detach`). A hook listing
prints the chain in run order with each program's verdict counts; ``show``
adds the query view: revision, prog ids, link ids and flags, as
`bpftool net show` / BPF_PROG_QUERY report them.
"""
from __future__ import annotations

from dataplane.abi.mprog import BPF_F_AFTER, BPF_F_BEFORE
from dataplane.abi.mprog import POSITION_VALUES as _POSITIONS
from dataplane.cli.client import call, counts

OBJECT = "hook"


def _entry(a, c=None) -> str:
    extra = ""
    if a.flags:
        extra += f"  flags {','.join(a.flags)}"
    if list(a.proceed_on) not in ([], ["pass"]):
        extra += f"  proceed_on {','.join(a.proceed_on)}"
    if c is not None:
        extra += f"  run_cnt {c.run_cnt}  run_time_ns {c.run_time_ns}  {counts(c.packets) or 'no packets'}"
    return f"\t{a.priority}: prog {a.program_id} {a.program_name}  link {a.link_id}{extra}"


def hook_text(r) -> str:
    lines = []
    for h in r.hooks:
        where = f"  placement {h.placement}" + (f" on {h.interface} ({h.mode})" if h.placement == "kernel" else "")
        lines.append(f"{h.name}  revision {h.revision}  programs {len(h.chain)}{where if h.placement else ''}")
        by_prog = {c.program_id: c for c in h.counters}
        for a in h.chain:
            lines.append(_entry(a, by_prog.get(a.program_id)))
    return "\n".join(lines)


def query_text(name: str, q) -> str:
    return (f"{name}  count {q.count}  revision {q.revision}\n"
            f"\tprog_ids {','.join(map(str, q.prog_ids)) or '-'}\n"
            f"\tlink_ids {','.join(map(str, q.link_ids)) or '-'}\n"
            f"\tflags {','.join(hex(f) for f in q.flags) or '-'}")


def register(what) -> None:
    hk = what.add_parser(OBJECT, help="hooks: attachment points and their chains").add_subparsers(dest="op",
                                                                                                 metavar="OP")
    hk.required = True
    hk.add_parser("list").add_argument("hook", nargs="?")
    hk.add_parser("show", help="revision, prog ids, link ids and flags (BPF_PROG_QUERY)").add_argument("hook")
    at = hk.add_parser("attach", help="attach a loaded program (default: append to the chain)")
    at.add_argument("hook")
    at.add_argument("prog_id", type=int)
    g = at.add_mutually_exclusive_group()
    g.add_argument("--first", action="store_true", help="prepend")
    g.add_argument("--before", type=int, metavar="PROG_ID")
    g.add_argument("--after", type=int, metavar="PROG_ID")
    g.add_argument("--before-link", type=int, metavar="LINK_ID")
    g.add_argument("--after-link", type=int, metavar="LINK_ID")
    g.add_argument("--replace", type=int, metavar="PROG_ID")
    at.add_argument("--link", action="store_true", help="attach through a new link (BPF_LINK_CREATE)")
    at.add_argument("--pin", action="append", choices=["first", "last"], default=[],
                    help="hold the entry at the head/tail for its lifetime")
    at.add_argument("--proceed-on", default="", metavar="VERDICTS",
                    help="comma-separated verdicts on which the next program runs (default: pass)")
    at.add_argument("--revision", type=int, default=0, help="expected hook revision (ABORTED if stale)")
    dt = hk.add_parser("detach", help="detach by LINK_ID, by HOOK PROG_ID, or the first/last entry of HOOK")
    dt.add_argument("target", metavar="LINK_ID|HOOK")
    dt.add_argument("prog_id", type=int, nargs="?")
    pos = dt.add_mutually_exclusive_group()
    pos.add_argument("--head", action="store_true", help="the first entry (BPF_F_BEFORE, no program)")
    pos.add_argument("--tail", action="store_true", help="the last entry (BPF_F_AFTER, no program)")
    dt.add_argument("--revision", type=int, default=0)
    hk.add_parser("delete", help="remove a hook (its entries go, its links become defunct)").add_argument("hook")
    pl = hk.add_parser("place", help="run the chain in the dataplane or in the kernel on an interface")
    pl.add_argument("hook")
    pl.add_argument("placement", choices=["userspace", "kernel"])
    pl.add_argument("--interface", default="", help="kernel: interface name or index")
    pl.add_argument("--mode", default="", choices=["", "auto", "native", "generic"])


def _position(args) -> tuple[str, int, int]:
    for name in ("before", "after", "replace"):
        if getattr(args, name):
            return name, getattr(args, name), 0
    if args.before_link:
        return "before", 0, args.before_link
    if args.after_link:
        return "after", 0, args.after_link
    return ("first" if args.first else "last"), 0, 0


def run(args, ch, out) -> int:
    from dataplane.errors import DataplaneError
    from dataplane.service.protos import pb, rpc
    hooks = rpc.HooksStub(ch)
    if args.op == "list":
        r = call(hooks.List, pb.ListHooksRequest(hook=args.hook or ""))
        out(r, hook_text(r))
    elif args.op == "show":
        q = call(hooks.Query, pb.QueryHookRequest(hook=args.hook))
        out(q, query_text(args.hook, q))
    elif args.op == "attach":
        pos, rel, rel_link = _position(args)
        proceed = [v.strip() for v in args.proceed_on.split(",") if v.strip()]
        kw = dict(program_id=args.prog_id, hook=args.hook, position=_POSITIONS[pos], relative_program_id=rel,
                  relative_link_id=rel_link, expected_revision=args.revision, first="first" in args.pin,
                  last="last" in args.pin, proceed_on=proceed)
        if args.link:
            if pos == "replace":
                raise DataplaneError("attach --link: a link takes a new place; use `link update` to swap programs")
            r = call(rpc.LinksStub(ch).Create, pb.CreateLinkRequest(**kw))
            out(r, f"link {r.id}: prog {r.program_id} attached to {args.hook} at {r.position}  "
                   f"revision {r.revision}")
        else:
            r = call(hooks.Attach, pb.AttachRequest(**kw))
            out(r, f"prog {r.attachment.program_id} attached to {args.hook} at {r.attachment.priority}  "
                   f"revision {r.revision}")
    elif args.op == "detach":
        if args.prog_id is None and not (args.head or args.tail):
            if not args.target.isdigit():
                raise DataplaneError("detach: give LINK_ID, HOOK PROG_ID, or HOOK --head|--tail")
            req = pb.DetachRequest(link_id=int(args.target), expected_revision=args.revision)
        else:
            flags = BPF_F_BEFORE if args.head else BPF_F_AFTER if args.tail else 0
            req = pb.DetachRequest(hook=args.target, program_id=args.prog_id or 0, flags=flags,
                                   expected_revision=args.revision)
        r = call(hooks.Detach, req)
        out(r, f"detached  revision {r.revision}")
    elif args.op == "delete":
        r = call(hooks.Delete, pb.DeleteHookRequest(hook=args.hook))
        out(r, f"hook {args.hook} deleted")
    elif args.op == "place":
        r = call(hooks.Place, pb.PlaceHookRequest(hook=args.hook, placement=args.placement,
                                                  interface=args.interface, mode=args.mode))
        h = r.hook
        out(r, f"{h.name}: placement {h.placement}" + (f" on {h.interface} ({h.mode})" if h.interface else "")
               + f"  revision {h.revision}")
    return 0
