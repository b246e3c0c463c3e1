"""Maps that no object load makes: Maps.Create's, and the inner maps a fill
made for a map-in-map (``OUTER[KEYHEX]``). Their contents are mapdata's."""
from __future__ import annotations

from dataplane.service.persist import Kind


def _made(app) -> list:
    reg = app.reg
    with reg.lock:
        return [lm for lm in sorted(reg.maps.values(), key=lambda m: m.id)
                if lm.object_id == 0 or (lm.object_id in reg.objects and "[" in lm.name)]


class Maps(Kind):
    name = "maps"
    order = 20

    def snapshot(self, app, store):
        return [{"id": lm.id, "name": lm.name, "type": lm.spec.map_type, "key_size": lm.spec.key_size,
                 "value_size": lm.spec.value_size, "max_entries": lm.spec.max_entries, "flags": lm.spec.map_flags,
                 "object": lm.object_id} for lm in _made(app)]

    def restore(self, app, data, store) -> None:
        from dataplane.loader.spec import MapSpec
        from dataplane.maps.core import MAP_IDS, Map
        from dataplane.service.state import LoadedMap
        reg = app.reg
        for d in data or ():
            with MAP_IDS.planned([d["id"]]):
                m = Map(d["type"], d["key_size"], d["value_size"], d["max_entries"], d["flags"], d["name"][:15])
            spec = MapSpec(name=d["name"], map_type=d["type"], key_size=d["key_size"], value_size=d["value_size"],
                           max_entries=d["max_entries"], map_flags=d["flags"])
            lm = LoadedMap(m.id, d["name"], m, spec, d["object"])
            with reg.lock:
                reg.maps[m.id] = lm
                obj = reg.objects.get(d["object"])
                if obj is not None:
                    obj.maps[d["name"]] = lm


KIND = Maps()
