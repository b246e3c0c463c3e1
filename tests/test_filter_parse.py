"""Parser, set loader and formatter: errors name line and token, nothing
unsupported passes silently, and the IR round-trips through iptables-save
text.  (Byte-exact agreement of the text with iptables itself is checked
against the real tools in test_filter_diff.py and test_filter_format.py.)"""
from __future__ import annotations

import pytest

from dataplane.filter.errors import RulesetError
from dataplane.filter.ipset import parse_sets, save_sets
from dataplane.filter.parser import parse
from dataplane.filter.save import save

HEAD = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"


def _err(text: str, sets: str = "") -> RulesetError:
    with pytest.raises(RulesetError) as ei:
        parse(text, sets=parse_sets(sets) if sets else None)
    return ei.value


@pytest.mark.parametrize("body,line,token,reason", [
    ("-A FORWARD -m nosuch -j DROP\n", 5, "nosuch", "unknown match"),
    ("-A FORWARD -j NOCHAIN\n", 5, "NOCHAIN", "unknown target or chain"),
    ("-A NOCHAIN -j DROP\n", 5, "NOCHAIN", "does not exist"),
    ("-A FORWARD -p tcp --dport 80 --bogus 1 -j DROP\n", 5, "--bogus", "unknown option"),
    ("-A FORWARD --dport 80 -p tcp -j DROP\n", 5, "--dport", "unknown option"),
    ("-A FORWARD -s 1.2.3.400 -j DROP\n", 5, "-s", "host/network"),
    ("-A FORWARD -m set --match-set nope src -j DROP\n", 5, "nope", "does not exist"),
    ("-A FORWARD -j DNAT --to 1.2.3.4\n", 5, "DNAT", "not supported"),
    ("-A FORWARD -p udp -m tcp --dport 1 -j DROP\n", 5, "-m tcp", "only valid with -p tcp"),
    ("-A FORWARD -m limit --limit 0/s -j DROP\n", 5, "--limit", "bad rate"),
    ("-D FORWARD 1\n", 5, "-D", "unsupported command"),
    ("-A FORWARD -p tcp --sport ! 80 -j DROP\n", 5, "--sport", "intrapositioned"),
])
def test_errors_name_line_and_token(body, line, token, reason):
    e = _err(HEAD + body + "COMMIT\n")
    assert e.line == line and e.token == token and reason in e.reason, str(e)
    assert f"rules:{line}:" in str(e) and repr(token) in str(e)


def test_missing_commit_and_other_tables():
    e = _err(HEAD + "-A FORWARD -j DROP\n")
    assert "missing COMMIT" in e.reason and e.line == 5
    e = _err("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n" + HEAD + "COMMIT\n")
    assert e.line == 1 and "not supported" in e.reason
    rs = parse("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j DNAT --to 1.1.1.1\nCOMMIT\n" + HEAD + "COMMIT\n",
               other_tables="skip")
    assert list(rs.chains) == ["INPUT", "FORWARD", "OUTPUT"]
    assert "no *filter" in _err("# nothing here\n").reason


def test_loop_of_jumps_is_an_error():
    e = _err(HEAD + ":A - [0:0]\n:B - [0:0]\n-A FORWARD -j A\n-A A -j B\n-A B -g A\nCOMMIT\n")
    assert e.kind == 40 and "loop" in e.reason and e.line == 9 and e.token == "A"     # ELOOP


def test_sets_errors_and_round_trip():
    text = ("create blk hash:net family inet hashsize 1024 maxelem 4\nadd blk 10.0.0.0/8\n"
            "add blk 10.1.0.0/16 nomatch\ncreate svc hash:ip,port family inet\nadd svc 1.2.3.4,udp:53\n")
    sets = parse_sets(text)
    assert sets["blk"].entries == {(0x0A000000, 8): False, (0x0A010000, 16): True}
    assert save_sets(sets) == text.replace("add svc 1.2.3.4,udp:53", "add svc 1.2.3.4,udp:53")
    with pytest.raises(RulesetError) as ei:
        parse_sets(text + "add blk 1.0.0.0/8\nadd blk 2.0.0.0/8\nadd blk 3.0.0.0/8\n")
    assert ei.value.line == 8 and "full" in ei.value.reason
    for bad, tok in (("create x hash:mac\n", "hash:mac"), ("create x hash:ip family inet6\n", "inet6"),
                     ("create x hash:ip timeout 5\n", "timeout"), ("add y 1.2.3.4\n", "y")):
        with pytest.raises(RulesetError) as ei:
            parse_sets(bad)
        assert ei.value.token == tok


def test_sets_ahead_of_rules_in_one_input():
    rs = parse("create blk hash:ip\nadd blk 192.0.2.1\n" + HEAD + "-A FORWARD -m set --match-set blk src -j DROP\n"
               "COMMIT\n")
    assert list(rs.sets) == ["blk"]


def test_save_round_trip_is_stable():
    text = HEAD + (":zz - [0:0]\n:aa - [0:0]\n[2:80] -A FORWARD -s 10.0.0.1 -p tcp --dport 80 -j aa\n"
                   "-I FORWARD 1 -p udp -m multiport --dports 1,2 -j DROP\n-A aa -j zz\n-A zz -j RETURN\nCOMMIT\n")
    rs = parse(text)
    once = save(rs, with_counters=True, header=False)
    assert once == save(parse(once), with_counters=True, header=False)
    assert once.splitlines()[4:6] == [":aa - [0:0]", ":zz - [0:0]"]          # user chains sorted
    assert "[2:80] -A FORWARD -s 10.0.0.1/32 -p tcp -m tcp --dport 80 -j aa" in once
    assert once.splitlines()[6].endswith("-p udp -m multiport --dports 1,2 -j DROP")   # -I 1 went first
