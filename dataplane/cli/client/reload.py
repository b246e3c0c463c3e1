"""`remote reload`: re-read the service's config file and apply the difference (Service.Reload, as SIGHUP)."""
from __future__ import annotations

from dataplane.cli.client import call

OBJECT = "reload"


def register(what) -> None:
    what.add_parser(OBJECT, help="re-read the service's config file and apply what changed")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    r = call(rpc.ServiceStub(ch).Reload, pb.ReloadRequest())
    lines = [f"reload {r.generation} of {r.config_path}: {len(r.changes)} changes"]
    lines += [f"  {c}" for c in r.changes] + [f"  note: {n}" for n in r.notes]
    out(r, "\n".join(lines))
    return 0
