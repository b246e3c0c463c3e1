"""Ruleset + counters -> ``iptables -L [CHAIN] -v -n -x`` text, in the
column layout iptables prints (print_header / print_firewall with
FMT_NUMERIC | FMT_VIA | FMT_OPTIONS | FMT_NOTABLE off): fixed-width
columns, match and target details appended, each with its own leading
space except ``[goto]``."""
from __future__ import annotations

from dataplane.filter import targets as T
from dataplane.filter.errors import RulesetError
from dataplane.filter.rules import Rule, Ruleset, ip_str

HEADER = ("    pkts      bytes target     prot opt in     out     source               "
          "destination         ")
HEADER_KMG = (" pkts bytes target     prot opt in     out     source               destination         ")


def num(n: int, exact: bool, table: bool = True) -> str:
    """xtables_print_num: the number and its trailing space; without -x in
    K/M/G/T units (rounded), padded to the column unless ``table`` is off."""
    if exact:
        return f"{n:8d} " if table else f"{n} "
    if n <= 99999:
        return f"{n:5d} " if table else f"{n} "
    for unit in "KMGT":
        n = (n + 500) // 1000
        if n <= 9999 or unit == "T":
            return f"{n:4d}{unit} " if table else f"{n}{unit} "
    raise AssertionError("unreachable")


def _addr(n) -> str:
    if n is None:
        return " 0.0.0.0/0"
    c = n.value
    s = ip_str(c.addr) if c.plen == 32 else f"{ip_str(c.addr)}/{c.plen}"
    return ("!" if n.neg else " ") + s


def _iface(n) -> str:
    if n is None:
        return "*"
    return ("!" if n.neg else "") + n.value


def rule_line(r: Rule, pk: int, by: int, exact: bool = True) -> str:
    s = num(pk, exact) + num(by, exact) + f"{T.list_name(r.target):<9} "
    s += ("!" if r.proto is not None and r.proto.neg else " ")
    s += f"{0 if r.proto is None else r.proto.value:<5}"
    s += ("!" if r.frag is False else "-") + ("f" if r.frag is not None else "-") + " "
    s += f" {_iface(r.iif):<6} {_iface(r.oif):<6} "
    s += f"{_addr(r.src):<20} {_addr(r.dst):<20} "
    if r.target.kind == "GOTO":
        s += "[goto] "
    for m in r.matches:
        s += " " + m.listing()
    tl = T.listing(r.target)
    if tl and r.target.kind != "GOTO":
        s += " " + tl
    return s


def listing(rs: Ruleset, counters: list | None = None, chain: str | None = None, *,
            exact: bool = True) -> str:
    """``iptables -L [chain] -v -n`` (``exact``: with -x)."""
    order = rs.save_order()
    rules = [r for c in order for r in c.rules]
    rc = counters[:len(rules)] if counters is not None else [tuple(r.counters) for r in rules]
    pc = counters[len(rules):] if counters is not None else [tuple(c.counters) for c in rs.builtins()]
    if chain is not None and chain not in rs.chains:
        raise RulesetError(f"chain '{chain}' does not exist", token=chain)
    refs: dict[str, int] = {}
    for r in rules:
        if r.target.kind in ("JUMP", "GOTO"):
            refs[r.target.chain] = refs.get(r.target.chain, 0) + 1
    blocks = []
    i = bi = 0
    for c in order:
        lines = []
        if c.builtin:
            p, b = pc[bi]
            bi += 1
            lines.append(f"Chain {c.name} (policy {c.policy} {num(p, exact, False)}packets, "
                         f"{num(b, exact, False)}bytes)")
        else:
            lines.append(f"Chain {c.name} ({refs.get(c.name, 0)} references)")
        lines.append(HEADER if exact else HEADER_KMG)
        for r in c.rules:
            lines.append(rule_line(r, *rc[i], exact))
            i += 1
        if chain is None or chain == c.name:
            blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)
