"""What feeds the hooks, when a client started it over gRPC: live
interface bindings (Interfaces.Bind) and replays (Replay.Start). The
config's own replays and interfaces are not state -- the config starts them
again on every start -- so only the clients' are kept here.

Restored after the hooks (their chains must run before a packet arrives):

* a live binding bound when the service stopped is bound again, same spec
  (its interfaces' XDP programs were removed at the stop, as always);
* a replay still running when the service stopped is started again from
  the start of its trace: a looping one (``loop -1``) loops on, a finite one
  runs the passes it had not completed. Its outputs are opened afresh
  (truncated, as by any start): a replay's outputs describe one run. A
  replay that had finished, failed or been stopped by a client is not
  restarted (its summary is not kept either).

What cannot be brought back -- an interface gone, a trace removed, a path
the config no longer allows -- is reported (a warning on the service's
output, and ``Service.Info`` notes) and the service starts without it:
these feed traffic, they hold no state a later request depends on.
"""
from __future__ import annotations

import dataclasses
import logging
import sys

from dataplane.errors import DataplaneError
from dataplane.service.persist import Kind

log = logging.getLogger("dataplane.service.persist")


def _replay(e) -> dict:
    passes = e.replay.progress().loops_done if e.running else e.status().get("passes", 0)
    loop = e.loop if e.loop < 0 else max(1, e.loop - passes)
    a = e.args
    return {"name": e.name, "hook": e.hook, "pcap": e.pcap, "loop": loop, "outputs": dict(e.outputs),
            "rate": a.get("rate", "max"), "speed": a.get("speed"), "workers": a.get("workers", 1),
            "deterministic": a.get("deterministic"),
            "ifindexes": {str(k): v for k, v in (a.get("ifindexes") or {}).items()}}


class Feeds(Kind):
    name = "feeds"
    order = 80

    def snapshot(self, app, store):
        live = []
        for lh in app.live.list():
            name = lh.spec.name
            if app.live.origin.get(name) == "client" and (lh.state == "running" or name in app.live.interrupted):
                live.append(dataclasses.asdict(lh.spec))
        replays = []
        with app.replays.lock:
            entries = [app.replays.replays[i] for i in sorted(app.replays.replays)]
        for e in entries:
            if e.origin == "client" and not e.stopping and (e.running or e.interrupted):
                replays.append(_replay(e))
        return {"live": live, "replays": replays}

    def restore(self, app, data, store) -> None:
        from dataplane.live import LiveSpec
        def report(what: str, exc: Exception) -> None:
            msg = f"state: {what} not restored: {exc}"
            log.warning("%s", msg)
            print(f"dataplane: {msg}", file=sys.stderr, flush=True)

        for d in (data or {}).get("live", ()):
            try:
                app.live.bind(LiveSpec(**d), "client")
            except (DataplaneError, OSError, TypeError) as exc:
                report(f"interfaces {', '.join(d.get('interfaces', []))} of hook {d.get('name')!r}", exc)
        for d in (data or {}).get("replays", ()):
            try:
                pcap = d["pcap"]
                from dataplane.service.config import SAMPLE_SCHEME
                if not pcap.startswith(SAMPLE_SCHEME):
                    pcap = app.paths.check_read(pcap, "pcap")
                outputs = {k: app.paths.check_write(v, f"output {k}") for k, v in d["outputs"].items() if v}
                app.replays.start(d["hook"], pcap, loop=d["loop"], outputs=outputs, name=d["name"],
                                  rate=d["rate"], speed=d["speed"],
                                  ifindexes={int(k): v for k, v in d["ifindexes"].items()} or None,
                                  workers=d.get("workers", 1), deterministic=d.get("deterministic"),
                                  origin="client")
            except (DataplaneError, OSError) as exc:
                report(f"replay {d.get('name')!r} on hook {d.get('hook')!r}", exc)


KIND = Feeds()
