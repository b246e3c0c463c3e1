"""Loaded objects: the ELF bytes (a content-addressed blob, written once),
how they were loaded, and the ids the load handed out -- replayed on a
restart, so programs and maps come back under the same ids, loaded and
verified again exactly as the first time (a restored program is never
trusted from disk: it passes the verifier of the running service).

attach() wraps the registry's ``load`` so every load -- gRPC, config,
filters -- records what a restart needs on the LoadedObject it returns
(``obj.persisted``); the registry itself knows nothing of state_dirs.
"""
from __future__ import annotations

import hashlib
import os

from dataplane.service.persist import Kind


def _spaces():
    from dataplane.maps.core import MAP_IDS
    from dataplane.runtime.collection import PROG_IDS
    return MAP_IDS, PROG_IDS


class Objects(Kind):
    name = "objects"
    order = 10

    def attach(self, app) -> None:
        reg = app.reg
        inner = reg.load
        map_ids, prog_ids = _spaces()

        def load(source, *, program: str = "", name: str = "", log_level: int = 0, prog_type: str = "",
                 _ids: dict | None = None, **kw):
            if isinstance(source, str):
                if not os.path.isfile(source):      # missing, a FIFO, a device: the registry's error
                    return inner(source, program=program, name=name, log_level=log_level, prog_type=prog_type,
                                 **kw)
                # a path (config): the bytes loaded are the bytes kept
                name = name or os.path.splitext(os.path.basename(source))[0]
                with open(source, "rb") as f:
                    source = f.read()
            ids = _ids or {}
            with map_ids.planned(ids.get("maps", ())), prog_ids.planned(ids.get("progs", ())), \
                    reg._obj_ids.planned([ids["object"]] if ids.get("object") else ()), \
                    map_ids.recording() as maps, prog_ids.recording() as progs:
                res = inner(source, program=program, name=name, log_level=log_level, prog_type=prog_type, **kw)
            res.obj.persisted = {"source": bytes(source), "sha256": hashlib.sha256(source).hexdigest(),
                                 "program": program, "type": prog_type, "name": res.obj.name,
                                 "maps": list(maps), "progs": list(progs)}
            return res
        reg.load = load

    def snapshot(self, app, store):
        with app.reg.lock:
            objs = sorted(app.reg.objects.values(), key=lambda o: o.id)
        out = []
        for o in objs:
            p = getattr(o, "persisted", None)
            if p is None:
                continue
            if not store.has_blob(p["sha256"]):
                store.put_blob(p["source"])
            out.append({"id": o.id, "name": p["name"], "blob": p["sha256"], "program": p["program"],
                        "type": p["type"], "maps": p["maps"], "progs": p["progs"]})
        return out

    def written(self, app, store, data) -> None:
        keep = {f"blob-{d['blob']}" for d in data}
        for n in store.names():
            if n.startswith("blob-") and n not in keep:
                store.remove(n)

    def restore(self, app, data, store) -> None:
        for d in data or ():
            app.reg.load(store.get_blob(d["blob"]), program=d["program"], name=d["name"], prog_type=d["type"],
                         _ids={"object": d["id"], "maps": d["maps"], "progs": d["progs"]})


KIND = Objects()
