"""Hooks: their chains (programs, links, pins, proceed-on sets), revisions
and placement, and the links the service created -- restored with the same
ids and revisions, so a client's expected_revision and link ids still hold."""
from __future__ import annotations

import logging

from dataplane.service.persist import Kind

log = logging.getLogger("dataplane.service.persist")


def _link(ln) -> dict:
    return {"id": ln.id, "hook": ln.hook, "prog": ln.program.id, "revision": ln.revision, "flags": ln.flags,
            "proceed_on": sorted(ln.proceed_on), "attached": ln.attached}


class Hooks(Kind):
    name = "hooks"
    order = 40

    def snapshot(self, app, store):
        hs = app.hooks
        out = []
        with hs.lock:
            for name in sorted(hs.hooks):
                h = hs.hooks[name]
                kp = h.kernel
                out.append({"name": name, "revision": h.revision, "placement": h.placement,
                            "interface": kp.iface.name if kp is not None else "",
                            "entries": [{"prog": e.prog.id, "link": e.link_id, "flags": e.flags,
                                         "proceed_on": sorted(e.proceed_on)} for e in h.entries]})
            links = [_link(ln) for ln in sorted(hs._links.values(), key=lambda ln: ln.id)]
        return {"hooks": out, "links": links}

    def restore(self, app, data, store) -> None:
        if not data:
            return
        from dataplane.hooks import link as links
        from dataplane.hooks.mprog import Entry
        hs = app.hooks
        saved = {d["id"]: d for d in data.get("links", ())}
        made = {}

        def link_of(lid: int, bp):
            d = saved.get(lid, {"id": lid, "hook": None, "revision": 0, "flags": 0, "proceed_on": [2]})
            ln = links.Link(lid, d["hook"], bp, d["revision"], d["flags"], frozenset(d["proceed_on"]))
            links.LINK_IDS.advance(lid)
            made[lid] = ln
            return ln

        for h in data.get("hooks", ()):
            hook = hs.hook(h["name"], create=True)
            entries = []
            for e in h["entries"]:
                bp = hs._bound(e["prog"])
                ln = link_of(e["link"], bp) if e["link"] else None
                entries.append(Entry(bp, ln, e["flags"], frozenset(e["proceed_on"])))
            with app.reg.lock, hs.lock:
                hook.restore(entries, h["revision"])
                hs._sync(hook)
            if h.get("placement") == "kernel":
                try:
                    hs.place(h["name"], "kernel", h.get("interface", ""))
                except Exception as exc:   # the interface may be gone: the chain runs in userspace
                    log.warning("state: hook %s stays in userspace: %s", h["name"], exc)
        for lid, d in saved.items():           # detached / defunct links stay listed
            if lid not in made:
                try:
                    bp = hs._bound(d["prog"])
                except Exception:
                    continue
                ln = link_of(lid, bp)
                ln.hook = d["hook"] if not d["attached"] else None
        with hs.lock:
            hs._links.update(made)


KIND = Hooks()
