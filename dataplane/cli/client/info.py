"""`remote info`: the service's version, uptime and what it holds."""
from __future__ import annotations

from dataplane.cli.client import call

OBJECT = "info"


def register(what) -> None:
    what.add_parser(OBJECT, help="service version and uptime")


def run(args, ch, out) -> int:
    from dataplane.service.protos import pb, rpc
    r = call(rpc.ServiceStub(ch).Info, pb.InfoRequest())
    out(r, f"version {r.version}  uptime {r.uptime_seconds:.1f}s  programs {r.programs_loaded}  "
           f"maps {r.maps_loaded}")
    return 0
