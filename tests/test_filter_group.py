"""Matcher compilation: which rules become one lookup, and that order is
kept when they cannot (the differential corpus checks the verdicts; this
checks the plan, so a regression to linear scans cannot hide)."""
from __future__ import annotations

from dataplane.filter.binding import binding
from dataplane.filter.group import Group, Scan, plan
from dataplane.filter.parser import parse
from dataplane.filter.program import compile_ruleset

HEAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"


def _plan(body: str):
    rs = parse(HEAD + body + "COMMIT\n")
    return plan(rs.chains["FORWARD"].rules, 0, binding([("a", 5), ("b", 6)]), 40)


def _shape(items):
    return [("G", len(i.entries), i.lpm) if isinstance(i, Group) else ("S",) for i in items]


def test_distinct_rules_make_one_group_and_flat_code():
    n = 10_000
    body = "".join(f"-A FORWARD -d 10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}/32 -p tcp -m tcp --dport {k % 999 + 1} "
                   f"-j ACCEPT\n" for k in range(n))
    rs = parse(HEAD + body + "COMMIT\n")
    fwd = binding([("a", 5), ("b", 6)])
    small = compile_ruleset(parse(HEAD + "".join(body.splitlines(True)[:10]) + "COMMIT\n"), fwd)
    cf = compile_ruleset(rs, fwd)
    assert cf.groups == 1 and cf.grouped_rules == n
    assert cf.insns == small.insns                 # the code does not grow with the rule count
    assert len(cf.fills["iptables_g0"]) == n


def test_overlap_splits_groups_and_prefixes_use_lpm():
    rules = "".join(f"-A FORWARD -s 192.0.2.{k} -j ACCEPT\n" for k in range(5))
    rules += "-A FORWARD -s 192.0.2.0/24 -j DROP\n"                     # overlaps all of them: new group
    rules += "".join(f"-A FORWARD -s 198.51.{k}.0/24 -j ACCEPT\n" for k in range(4))
    assert _shape(_plan(rules)) == [("G", 5, None), ("G", 5, "saddr")]
    dup = "".join(f"-A FORWARD -s 192.0.2.{k % 3} -j LOG\n" for k in range(6))   # equal keys repeat
    assert _shape(_plan(dup)) == [("S",)] * 6       # runs of 3 distinct keys are below GROUP_MIN


def test_guards_and_what_is_never_grouped():
    docker = "".join(f"-A FORWARD -d 172.17.0.{k}/32 ! -i b -o b -p tcp -m tcp --dport 80 -j ACCEPT\n"
                     for k in range(8))
    (g,) = _plan(docker)
    assert isinstance(g, Group) and g.fields == ("daddr", "dport", "proto")
    assert g.guard.iif.neg and g.guard.oif.value == "b" and not g.guard.matches
    limited = "".join(f"-A FORWARD -s 192.0.2.{k} -m limit --limit 1/s -j ACCEPT\n" for k in range(8))
    assert _shape(_plan(limited)) == [("S",)] * 8    # a token bucket per rule
    mixed = ("-A FORWARD -s 192.0.2.1 -j ACCEPT\n" * 1 + "".join(f"-A FORWARD -s 192.0.2.{k} -m comment "
             f"--comment c{k} -j ACCEPT\n" for k in range(2, 6)))
    assert _shape(_plan(mixed)) == [("G", 5, None)]  # comments are not conditions
    ranges = "".join(f"-A FORWARD -p tcp --dport {k}:{k + 1} -j ACCEPT\n" for k in range(0, 16, 2))
    assert _shape(_plan(ranges)) == [("S",)] * 8      # guards differ (each its own range): scans


def test_chain_choice_follows_interface_count():
    import pytest

    from dataplane.filter.binding import binding
    from dataplane.filter.errors import RulesetError
    assert binding().chain == "INPUT"
    assert binding([("eth0", 2)]).chain == "INPUT"
    inline = binding([("eth0", 2), ("eth1", 3)])
    assert inline.chain == "FORWARD" and inline.out_of(2) == "eth1" and inline.out_of(3) == "eth0"
    assert binding([("eth0", 2), ("eth1", 3)], "INPUT").out_of(2) is None        # --chain overrides
    assert binding([("eth0", 2)], "FORWARD").out_of(2) is None                   # no pair: no -o
    with pytest.raises(RulesetError):
        binding([("a", 1), ("b", 2), ("c", 3)])
    with pytest.raises(RulesetError):
        binding(chain="OUTPUT")
