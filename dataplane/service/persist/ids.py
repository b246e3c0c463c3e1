"""The id counters: after a restart no id is handed out twice, not even
one of an object unloaded before the restart (as the kernel's IDRs)."""
from __future__ import annotations

from dataplane.service.persist import Kind


def _spaces(app) -> dict:
    from dataplane.hooks.link import LINK_IDS
    from dataplane.maps.core import MAP_IDS
    from dataplane.runtime.collection import PROG_IDS
    return {"map": MAP_IDS, "prog": PROG_IDS, "link": LINK_IDS, "object": app.reg._obj_ids}


class Ids(Kind):
    name = "ids"
    order = 5

    def snapshot(self, app, store):
        return {k: s.peek for k, s in _spaces(app).items()}

    def restore(self, app, data, store) -> None:
        for k, s in _spaces(app).items():
            if data and data.get(k, 0) > 1:
                s.advance(data[k] - 1)


KIND = Ids()
