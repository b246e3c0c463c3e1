"""The service's iptables filters: one translated ruleset per hook.

A filter is an ordinary loaded object (the translator's ELF bytes go
through the registry like any user object, so Programs.List, hook listings
and metrics show ``iptables_filter``) attached to its hook.  A restore
translates and verifies first, then loads the new object, fills its maps,
and swaps it into the hook's chain with one ``replace`` attach (the Hook
publishes the new chain between batches: no packet sees part of the old
and part of the new ruleset), and only then unloads the old object.  Any
failure before the swap leaves the running filter as it was.

Over gRPC a restore runs on the bounded verify pool as Programs.Load does
(service/verifypool.py: limits.verify_workers/verify_queue/verify_seconds and
the client's deadline), so a huge ruleset cannot stall other RPCs: ``cancel``
(the pool's Job) is checked between translating and loading, and the load
stops the verifier. Once the new object publishes, the restore completes (it
is not rolled back if the client has gone by then: the swap is one step).
"""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass

from dataplane.errors import DataplaneError, NotFound

MAX_RULES_TEXT = 64 << 20          # bytes of ruleset + sets text one restore may carry


@dataclass
class Filter:
    hook: str
    cf: object                    # CompiledFilter
    obj: object                   # the registry's LoadedObject
    program_id: int
    rules_text: str
    sets_text: str


class FilterSet:
    def __init__(self, reg, hooks):
        self.reg = reg
        self.hooks = hooks
        self.lock = threading.Lock()
        self.filters: dict[str, Filter] = {}

    def restore(self, hook: str, rules: str, sets: str = "", *, counters: bool = False, chain: str = "",
                interfaces=(), filter_only: bool = False, source: str = "rules", cancel=None) -> tuple[Filter, int]:
        from dataplane.filter.binding import binding
        from dataplane.filter.elf import elf_bytes
        from dataplane.filter.ipset import parse_sets
        from dataplane.filter.parser import parse
        from dataplane.filter.program import PROG_NAME, compile_ruleset
        if len(rules) + len(sets) > MAX_RULES_TEXT:
            raise DataplaneError(f"ruleset larger than {MAX_RULES_TEXT} bytes")
        ifaces = []
        for n in interfaces:
            try:
                ifaces.append((n, socket.if_nametoindex(n)))
            except OSError:
                raise NotFound(f"no interface {n!r}") from None
        rs = parse(rules, source=source, sets=parse_sets(sets, source="ipset") if sets else None,
                   other_tables="skip" if filter_only else "error")
        cf = compile_ruleset(rs, binding(ifaces, chain or None))
        if cancel is not None and cancel.is_set():
            from dataplane.service.verifypool import LoadTimedOut
            raise LoadTimedOut()        # the pool names why (deadline or cancel)
        res = self.reg.load(elf_bytes(cf), name=f"iptables:{hook}", cancel=cancel)
        try:
            for name, ents in cf.fills.items():
                m = res.obj.maps[name].map
                for k, v in ents:
                    m.update(k, v)
            if counters:
                from dataplane.filter.load import seed_counters
                seed_counters(res.obj.maps["iptables_counters"].map, cf.initial_counters())
            pid = res.obj.programs[PROG_NAME].id
            with self.lock:
                old = self.filters.get(hook)
                self.hooks.hook(hook, create=True)
                if old is not None:
                    _, rev = self.hooks.attach(pid, hook, "replace", old.program_id)
                else:
                    _, rev = self.hooks.attach(pid, hook)
                f = Filter(hook, cf, res.obj, pid, rules, sets)
                self.filters[hook] = f
        except BaseException:
            self.reg.unload(res.obj.programs[PROG_NAME].id)
            raise
        if old is not None:
            self.reg.unload(old.program_id)
        return f, rev

    def remove(self, hook: str) -> int:
        with self.lock:
            f = self.get(hook)
            rev = self.hooks.detach(hook_name=hook, program_id=f.program_id)
            del self.filters[hook]
        self.reg.unload(f.program_id)
        return rev

    def get(self, hook: str) -> Filter:
        f = self.filters.get(hook)
        if f is None:
            raise NotFound(f"hook {hook!r} has no iptables filter (filters: "
                           f"{', '.join(sorted(self.filters)) or 'none'})")
        return f

    def counters(self, hook: str) -> tuple[Filter, list[tuple[int, int]]]:
        from dataplane.filter.program import COUNTER_SIZE, sum_percpu
        import struct
        f = self.get(hook)
        m = f.obj.maps["iptables_counters"].map
        return f, [sum_percpu(m.lookup(struct.pack("<I", i)) or bytes(COUNTER_SIZE))
                   for i in range(f.cf.ncounters)]

    def log_records(self, hook: str) -> list[bytes]:
        from dataplane.filter.log import LOG_MAP
        f = self.get(hook)
        lm = f.obj.maps.get(LOG_MAP)
        if lm is None:
            raise NotFound(f"the filter on {hook!r} has no LOG rule")
        return lm.map.consume(4096)
