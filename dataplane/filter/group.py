"""Matcher compilation: runs of rules -> one hash/LPM lookup each.

A rule's *key* is what it tests as an exact value or a prefix of packet
fields a map key can hold — source/destination address (exact or a prefix),
protocol, one source/destination port, the input interface; the rest of
its conditions (comments aside) is its *residual*.  A run of consecutive
rules of one chain with the same key fields and the same residual becomes
one :class:`Group`: the residual is tested once (the group's guard), then
a map from key to (counter index, action) is looked up once per packet, so
the cost does not grow with the run's length.

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
    guard: object = None               # the conditions all rules share besides the key (a Rule)
    map_name: str = ""

    @property
    def needs_l4(self) -> bool:
        return "sport" in self.fields or "dport" in self.fields

    def key_words(self) -> int:
        return len(self.fields) + (1 if self.lpm else 0)


def rule_key(r, binding: Binding):
    """Split a rule into key fields and the rest.

    Returns ({field: value}, {field: plen}, signature, rule) or None when no
    condition can be a key.  Address values are host-order ints; an
    interface is its ifindex (None: the rule names no interface of this
    hook, so it can never match).  The *residual* is the rule without its
    key conditions (comments dropped too): rules of one group share it, the
    group tests it once before its lookup (``residual(rule, vals)`` builds
    it); ``signature`` is its text."""
    vals: dict = {}
    plens: dict = {}
    sig = []
    for f, n in (("saddr", r.src), ("daddr", r.dst)):
        if n is not None:
            if n.neg:
                sig.append(f"!{f}={n.value}")
            else:
                vals[f] = n.value.addr
                plens[f] = n.value.plen
    if r.proto is not None:
        if r.proto.neg:
            sig.append(f"!p={r.proto.value}")
        else:
            vals["proto"] = r.proto.value
    if r.iif is not None:
        if r.iif.neg or r.iif.value.endswith("+"):
            sig.append(f"i={r.iif.neg}{r.iif.value}")
        else:
            vals["iif"] = next((i for n, i in binding.ifaces if n == r.iif.value), None)
    if r.oif is not None:
        sig.append(f"o={r.oif.neg}{r.oif.value}")
    if r.frag is not None:
        sig.append(f"f={r.frag}")
    for m in r.matches:
        if isinstance(m, M.CommentMatch):
            continue
        if isinstance(m, M.LimitMatch):
            return None                # a bucket per rule: never shared by a group
        if isinstance(m, M.PortsMatch) and "proto" in vals:
            rest, keyed = _port_keys(m, vals)
            if not keyed or rest:
                sig.append(f"{m.name}:{rest}")
            continue
        sig.append(m.save())
    if not vals or (("sport" in vals or "dport" in vals) and "proto" not in vals):
        return None
    return vals, plens, "|".join(sig), r


def _port_keys(m, vals: dict) -> tuple[str, bool]:
    """Move single, positive ports of a tcp/udp match into ``vals``; the
    match's remaining options as text, and whether a port was keyed."""
    rest, keyed = [], False
    for f in ("sport", "dport"):
        v = m.port(f)
        if v is None:
            continue
        if not v[2] and v[0] == v[1]:
            vals[f] = v[0]
            keyed = True
        else:
            rest.append(f"{f}={v}")
    if m.flags is not None:
        rest.append(f"flags={m.flags}")
    return ",".join(rest), keyed


def residual(r, binding: Binding):
    """The rule's conditions that are not its key (a copy; target NONE)."""
    import copy

    from dataplane.filter.rules import Target
    vals: dict = {}
    res = copy.copy(r)
    res.matches = []
    res.target = Target("NONE")
    if r.src is not None and not r.src.neg:
        res.src = None
    if r.dst is not None and not r.dst.neg:
        res.dst = None
    if r.proto is not None and not r.proto.neg:
        res.proto = None
        vals["proto"] = r.proto.value
    if r.iif is not None and not r.iif.neg and not r.iif.value.endswith("+"):
        res.iif = None
    for m in r.matches:
        if isinstance(m, M.CommentMatch):
            continue
        if isinstance(m, M.PortsMatch) and "proto" in vals:
            rest, keyed = _port_keys(m, vals)
            if keyed and not rest:
                continue
            keep = copy.copy(m)
            if keyed:
                for f in ("sport", "dport"):
                    v = m.port(f)
                    if v is not None and not v[2] and v[0] == v[1]:
                        setattr(keep, f, None)
            res.matches.append(keep)
            continue
        res.matches.append(m)
    return res


def _prefix_fields(plens: dict) -> list[str]:
    return [f for f, p in plens.items() if p < 32]


class _Run:
    def __init__(self, fields: frozenset, sig: str = "", residual=None):
        self.fields = fields
        self.sig = sig
        self.residual = residual
        self.lpm: str | None = None
        self.items: list = []           # (index, rule, vals, plens)
        self.exact: set = set()
        self.prefixes: dict = {}        # exact part -> {(addr, plen)}
        self.ancestors: dict = {}       # exact part -> {(addr, plen)} of every proper ancestor

    def accepts(self, vals: dict, plens: dict, sig: str = "") -> bool:
        if frozenset(vals) != self.fields or sig != self.sig:
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
                                               for i, r, v, p in run.items],
                             guard=residual(run.residual, binding)))
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
        vals, plens, sig, first = key
        if run is None or not run.accepts(vals, plens, sig):
            close()
            run = _Run(frozenset(vals), sig, first)
            if not run.accepts(vals, plens, sig):  # two prefix fields: never keyable
                run = None
                out.append(Scan(idx, r))
                continue
        run.add((idx, r, vals, plens))
    close()
    return out
