"""iptables filters (service/filters.py): the ruleset text and how it was
applied. The translated object itself is an ordinary loaded object
(objects.py brings it back, verified again, with its ids) and its hook
entry is hooks.py's; this kind binds the two again -- it translates the
saved text once more (deterministic) for the rule tables and counters
layout, fills the rule maps as the first restore did, and lists the
filter under its hook. Counters are map contents (mapdata.py, later in
order, overwrites the zeroed counters with the saved ones)."""
from __future__ import annotations

import logging

from dataplane.service.persist import Kind
from dataplane.service.persist.store import StateError

log = logging.getLogger("dataplane.service.persist")


class Filters(Kind):
    name = "filters"
    order = 25

    def attach(self, app) -> None:
        fs = app.filters
        inner = fs.restore

        def restore(hook: str, rules: str, sets: str = "", *, counters: bool = False, chain: str = "",
                    interfaces=(), filter_only: bool = False, source: str = "rules", **kw):
            f, rev = inner(hook, rules, sets, counters=counters, chain=chain, interfaces=interfaces,
                           filter_only=filter_only, source=source, **kw)
            f.persisted = {"chain": chain, "interfaces": list(interfaces), "filter_only": filter_only}
            return f, rev
        fs.restore = restore

    def snapshot(self, app, store):
        fs = app.filters
        with fs.lock:
            return [{"hook": f.hook, "object": f.obj.id, "program": f.program_id, "rules": f.rules_text,
                     "sets": f.sets_text, **getattr(f, "persisted", {"chain": "", "interfaces": [],
                                                                     "filter_only": False})}
                    for f in sorted(fs.filters.values(), key=lambda f: f.hook)]

    def restore(self, app, data, store) -> None:
        import socket

        from dataplane.filter.binding import binding
        from dataplane.filter.ipset import parse_sets
        from dataplane.filter.parser import parse
        from dataplane.filter.program import compile_ruleset
        from dataplane.service.filters import Filter
        fs, reg = app.filters, app.reg
        for d in data or ():
            obj = reg.objects.get(d["object"])
            if obj is None:
                raise StateError(f"filter on hook {d['hook']!r}: its object {d['object']} was not restored")
            ifaces = []
            for n in d["interfaces"]:
                try:
                    ifaces.append((n, socket.if_nametoindex(n)))
                except OSError:
                    log.warning("state: filter on %s: interface %s is gone", d["hook"], n)
            rs = parse(d["rules"], source="state", sets=parse_sets(d["sets"], source="ipset") if d["sets"] else None,
                       other_tables="skip" if d["filter_only"] else "error")
            cf = compile_ruleset(rs, binding(ifaces, d["chain"] or None))
            for name, ents in cf.fills.items():
                m = obj.maps[name].map
                for k, v in ents:
                    m.update(k, v)
            f = Filter(d["hook"], cf, obj, d["program"], d["rules"], d["sets"])
            f.persisted = {"chain": d["chain"], "interfaces": d["interfaces"], "filter_only": d["filter_only"]}
            with fs.lock:
                fs.filters[d["hook"]] = f


KIND = Filters()
