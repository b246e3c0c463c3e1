"""The service's iptables filters: one translated ruleset per hook.

A filter is an ordinary loaded object (the translator's ELF bytes go
through the registry like any user object, so Programs.List, hook listings
and metrics show ``iptables_filter``) attached to its hook.  A restore
translates and verifies first, then loads the new object, fills its maps,
and swaps it into the hook's chain with one ``replace`` attach (the Hook
publishes the new chain between batches: no packet sees part of the old
and part of the new ruleset), and only then unloads the old object.  Any
failure before the swap leaves the running filter as it was.

Counters: a restore over gRPC is iptables-restore -- every rule starts at
0, or at the text's ``[packets:bytes]`` with ``counters``.  A config reload
(``keep_counters``) instead keeps the counts of every rule it did not
change, as editing rules in place with ``iptables -A/-D`` keeps them in the
kernel: a rule is unchanged when its chain and its ``-A CHAIN ...`` text
(iptables-save's) are (the k-th of several identical rules pairs with the
k-th), a policy counter when its chain keeps its policy.  Their counts are
written into the new program's map before the swap; whatever the old
program counted after that read (the batches in flight across the swap) is
added when counters are read, from the old map, which the new filter holds
until the next restore -- so no packet goes uncounted. (A state_dir
snapshot holds the new map: those few late counts of the old program are
not in it. The hook's per-program counters are the new program's and start
at 0, as for any program a replace attach swaps in.)

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
from dataclasses import dataclass, field

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
    # counts the previous ruleset made after its counters were carried over:
    # (its counters map, [(new index, old index, old count at the carry-over)])
    carry: tuple | None = field(default=None, repr=False)


class FilterSet:
    def __init__(self, reg, hooks):
        self.reg = reg
        self.hooks = hooks
        self.lock = threading.Lock()
        self.filters: dict[str, Filter] = {}

    def restore(self, hook: str, rules: str, sets: str = "", *, counters: bool = False, chain: str = "",
                interfaces=(), filter_only: bool = False, source: str = "rules",
                keep_counters: bool = False, cancel=None) -> tuple[Filter, int]:
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
            from dataplane.filter.load import seed_counters
            new_map = res.obj.maps["iptables_counters"].map
            if counters:
                seed_counters(new_map, cf.initial_counters())
            pid = res.obj.programs[PROG_NAME].id
            with self.lock:
                old = self.filters.get(hook)
                carry = None
                if keep_counters and not counters and old is not None:
                    seed, carry = _carry_over(old, cf)
                    seed_counters(new_map, seed)         # the new program does not run yet: no race
                self.hooks.hook(hook, create=True)
                if old is not None:
                    _, rev = self.hooks.attach(pid, hook, "replace", old.program_id)
                else:
                    _, rev = self.hooks.attach(pid, hook)
                f = Filter(hook, cf, res.obj, pid, rules, sets, carry)
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
        f = self.get(hook)
        return f, _values(f)

    def log_records(self, hook: str) -> list[bytes]:
        from dataplane.filter.log import LOG_MAP
        f = self.get(hook)
        lm = f.obj.maps.get(LOG_MAP)
        if lm is None:
            raise NotFound(f"the filter on {hook!r} has no LOG rule")
        return lm.map.consume(4096)


def _read(m, n: int) -> list[tuple[int, int]]:
    import struct

    from dataplane.filter.program import COUNTER_SIZE, sum_percpu
    return [sum_percpu(m.lookup(struct.pack("<I", i)) or bytes(COUNTER_SIZE)) for i in range(n)]


def _values(f: Filter, own: list | None = None) -> list[tuple[int, int]]:
    """(packets, bytes) per counter index: the program's map (``own``: as just read), plus what
    the previous ruleset counted for a carried-over rule after the carry-over."""
    out = list(own) if own is not None else _read(f.obj.maps["iptables_counters"].map, f.cf.ncounters)
    if f.carry is not None:
        m, pairs = f.carry
        late = _read(m, max(oi for _, oi, _ in pairs) + 1) if pairs else []
        for ni, oi, (p0, b0) in pairs:
            p, b = out[ni]
            out[ni] = (p + late[oi][0] - p0, b + late[oi][1] - b0)
    return out


def _rule_keys(rs) -> list[tuple]:
    """Per counter index (rules in iptables-save order, then the policies): what makes it 'the same'."""
    from dataplane.filter.save import rule_spec
    keys, seen = [], {}
    for c in rs.save_order():
        for r in c.rules:
            k = (c.name, f"-A {c.name}{rule_spec(r)}")
            seen[k] = seen.get(k, 0) + 1
            keys.append((*k, seen[k]))           # the k-th of identical rules
    return keys + [(c.name, f"policy {c.policy}", 1) for c in rs.builtins()]


def _carry_over(old: Filter, cf) -> tuple[list, tuple]:
    """The new ruleset's initial counters (the old counts of its unchanged rules) and the carry
    that adds what the old program counts from now on."""
    old_index = {k: i for i, k in enumerate(_rule_keys(old.cf.ruleset))}
    raw = _read(old.obj.maps["iptables_counters"].map, old.cf.ncounters)     # one read: the carry-over point
    total = _values(old, raw)
    seed = [(0, 0)] * cf.ncounters
    pairs = []
    for ni, k in enumerate(_rule_keys(cf.ruleset)):
        oi = old_index.get(k)
        if oi is not None:
            seed[ni] = total[oi]
            pairs.append((ni, oi, raw[oi]))
    return seed, (old.obj.maps["iptables_counters"].map, pairs)
