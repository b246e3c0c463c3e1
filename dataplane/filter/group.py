"""Matcher compilation: runs of rules -> one hash/LPM lookup each.

A rule is *keyable* when all it tests is an exact value or a prefix of
packet fields a map key can hold — source/destination address (exact or a
prefix), protocol, one source/destination port, the input interface — plus
comments.  A run of consecutive keyable rules of one chain with the same
fields becomes one :class:`Group`: a map from key to (counter index, action),
looked up once per packet, so the cost does not grow with the run's length.

Order is what makes this correct: inside a group no two rules may match the
same packet (equal keys, or nested prefixes with equal exact fields), so the
one rule a lookup finds is the first matching rule of the run; a rule that
would overlap an earlier one starts a new group.  At most one field may be a
prefix shorter than /32 across the group (the LPM key's last field).  Runs
shorter than GROUP_MIN stay scans, as do all other rules.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dataplane.filter import matches as M
from dataplane.filter.binding import Binding

GROUP_MIN = 4
FIELD_ORDER = ("saddr", "daddr", "sport", "dport", "proto", "iif")


@dataclass
class Scan:
    index: int                 # counter index (save order)
    rule: object


@dataclass
class Group:
    fields: tuple[str, ...]            # exact-match key words, in key order
    lpm: str | None                    # address field matched by prefix (last key word)
    entries: list = field(default_factory=list)   # (index, rule, {field: value}, plen)
    map_name: str = ""

    @property
    def needs_l4(self) -> bool:
        return "sport" in self.fields or "dport" in self.fields

    def key_words(self) -> int:
        return len(self.fields) + (1 if self.lpm else 0)


def rule_key(r, binding: Binding):
    """{field: value} and {field: plen} of a keyable rule, else None.  Address
    values are host-order ints; an interface is its ifindex (None: the rule
    names no interface of this hook, so it can never match)."""
    vals: dict = {}
    plens: dict = {}
    if r.oif is not None or r.frag is not None:
        return None
    for f, n in (("saddr", r.src), ("daddr", r.dst)):
        if n is not None:
            if n.neg:
                return None
            vals[f] = n.value.addr
            plens[f] = n.value.plen
    if r.proto is not None:
        if r.proto.neg:
            return None
        vals["proto"] = r.proto.value
    if r.iif is not None:
        if r.iif.neg or r.iif.value.endswith("+"):
            return None
        vals["iif"] = next((i for n, i in binding.ifaces if n == r.iif.value), None)
    for m in r.matches:
        if isinstance(m, M.CommentMatch):
            continue
        if not isinstance(m, M.PortsMatch) or m.flags is not None:
            return None
        for f, v in (("sport", m.port("sport")), ("dport", m.port("dport"))):
            if v is not None:
                lo, hi, neg = v
                if neg or lo != hi:
                    return None
                vals[f] = lo
    return vals, plens


def _prefix_fields(plens: dict) -> list[str]:
    return [f for f, p in plens.items() if p < 32]


class _Run:
    def __init__(self, fields: frozenset):
        self.fields = fields
        self.lpm: str | None = None
        self.items: list = []           # (index, rule, vals, plens)
        self.exact: set = set()
        self.prefixes: dict = {}        # exact part -> {(addr, plen)}
        self.ancestors: dict = {}       # exact part -> {(addr, plen)} of every proper ancestor

    def accepts(self, vals: dict, plens: dict) -> bool:
        if frozenset(vals) != self.fields:
            return False
        pf = _prefix_fields(plens)
        if len(pf) > 1 or (pf and self.lpm not in (None, pf[0])):
            return False
        lpm = pf[0] if pf else self.lpm
        if lpm is None:
            return tuple(sorted(vals.items())) not in self.exact
        # with an LPM field, every rule's key is (exact part, prefix of lpm)
        ex = tuple(sorted((k, v) for k, v in vals.items() if k != lpm))
        p = (vals[lpm], plens.get(lpm, 32))
        have = self.prefixes.get(ex, set())
        anc = self.ancestors.get(ex, set())
        if p in have or p in anc:
            return False
        addr, plen = p
        for q in range(plen):
            m = (0xFFFFFFFF << (32 - q)) & 0xFFFFFFFF if q else 0
            if (addr & m, q) in have:
                return False
        if self.lpm is None and self.items:
            # turning an exact run into an LPM one: earlier keys become /32 prefixes
            for _, _, v, pl in self.items:
                e = tuple(sorted((k, x) for k, x in v.items() if k != lpm))
                if e == ex and _overlap((v[lpm], pl.get(lpm, 32)), p):
                    return False
        return True

    def add(self, item) -> None:
        index, rule, vals, plens = item
        pf = _prefix_fields(plens)
        if pf and self.lpm is None:
            self.lpm = pf[0]
            for _, _, v, pl in self.items:
                self._add_prefix(v, pl)
        self.items.append(item)
        if self.lpm is None:
            self.exact.add(tuple(sorted(vals.items())))
        else:
            self._add_prefix(vals, plens)

    def _add_prefix(self, vals, plens) -> None:
        lpm = self.lpm
        ex = tuple(sorted((k, v) for k, v in vals.items() if k != lpm))
        addr, plen = vals[lpm], plens.get(lpm, 32)
        self.prefixes.setdefault(ex, set()).add((addr, plen))
        anc = self.ancestors.setdefault(ex, set())
        for q in range(plen):
            m = (0xFFFFFFFF << (32 - q)) & 0xFFFFFFFF if q else 0
            anc.add((addr & m, q))


def _overlap(a, b) -> bool:
    (x, p), (y, q) = a, b
    n = min(p, q)
    m = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF if n else 0
    return (x & m) == (y & m)


def plan(rules: list, first_index: int, binding: Binding, max_groups: int) -> list:
    """The chain's rules (counter indexes from ``first_index``) as Scans and Groups."""
    out: list = []
    run: _Run | None = None
    budget = [max_groups]

    def close():
        nonlocal run
        if run is None:
            return
        if len(run.items) >= GROUP_MIN and budget[0] > 0:
            budget[0] -= 1
            fields = tuple(f for f in FIELD_ORDER if f in run.fields and f != run.lpm)
            out.append(Group(fields, run.lpm, [(i, r, v, p.get(run.lpm, 32) if run.lpm else 32)
                                               for i, r, v, p in run.items]))
        else:
            out.extend(Scan(i, r) for i, r, _, _ in run.items)
        run = None

    for k, r in enumerate(rules):
        idx = first_index + k
        key = rule_key(r, binding)
        if key is None:
            close()
            out.append(Scan(idx, r))
            continue
        vals, plens = key
        if run is None or not run.accepts(vals, plens):
            close()
            run = _Run(frozenset(vals))
            if not run.accepts(vals, plens):       # two prefix fields: never keyable
                run = None
                out.append(Scan(idx, r))
                continue
        run.add((idx, r, vals, plens))
    close()
    return out
