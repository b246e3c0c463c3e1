"""`remote link list [HOOK] | show ID | update ID PROG_ID [--old PROG_ID] | detach ID`, as bpftool's `link`.

Links are made by `hook attach HOOK PROG_ID --link`; a link owns its chain
entry: update runs another program in the same place, detach removes it.
"""
from __future__ import annotations

from dataplane.cli.client import call

OBJECT = "link"


def link_line(ln) -> str:
    state = "defunct" if ln.defunct else "attached" if ln.attached else "detached"
    extra = f"  flags {','.join(ln.flags)}" if ln.flags else ""
    if list(ln.proceed_on) not in ([], ["pass"]):
        extra += f"  proceed_on {','.join(ln.proceed_on)}"
    where = f"hook {ln.hook}  position {ln.position}" if ln.hook else "hook -"
    return f"{ln.id}: {ln.type}  prog {ln.program_id} {ln.program_name}\n\t{where}  revision {ln.revision}  " \
           f"{state}{extra}"


def register(what) -> None:
    lk = what.add_parser(OBJECT, help="links: attachments that own their hook entry").add_subparsers(
        dest="op", metavar="OP")
    lk.required = True
    lk.add_parser("list").add_argument("hook", nargs="?")
    lk.add_parser("show").add_argument("id", type=int)
    up = lk.add_parser("update", help="run another program in the link's place")
    up.add_argument("id", type=int)
    up.add_argument("prog_id", type=int)
    up.add_argument("--old", type=int, default=0, metavar="PROG_ID", help="only if the link still runs this one")
    lk.add_parser("detach").add_argument("id", type=int)


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    links = rpc.LinksStub(ch)
    if args.op == "list":
        r = call(links.List, pb.ListLinksRequest(hook=args.hook or ""))
        out(r, "\n".join(link_line(ln) for ln in r.links))
    elif args.op == "show":
        r = call(links.Get, pb.GetLinkRequest(id=args.id))
        out(r, link_line(r))
    elif args.op == "update":
        r = call(links.Update, pb.UpdateLinkRequest(link_id=args.id, program_id=args.prog_id,
                                                    old_program_id=args.old))
        out(r, f"link {args.id}: prog {r.link.program_id}  revision {r.revision}")
    elif args.op == "detach":
        r = call(links.Detach, pb.DetachLinkRequest(link_id=args.id))
        out(r, f"link {args.id} detached  revision {r.revision}")
    return 0
