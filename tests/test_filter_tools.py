"""What third-party tools write that the translator refuses: the whole
ruleset is refused with an error naming the line and the unsupported
token (never a silent ignore), through the parser and through
``dataplane iptables-restore``.  (What they write that is translated is
compared against netfilter in tests/filter_corpus_tools.py.)"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dataplane.filter.errors import RulesetError
from dataplane.filter.ipset import parse_sets
from dataplane.filter.lexer import split_words
from dataplane.filter.matches import save_string
from dataplane.filter.parser import parse
from dataplane.filter.save import save
from filter_corpus_tools import DOCKER28, KUBE, QUIRKS, UFW


def _with(ruleset: str, chains: str, rules: str) -> str:
    """``ruleset`` with user chains declared after the last chain line and rules before COMMIT."""
    lines = ruleset.splitlines(keepends=True)
    last_chain = max(i for i, l in enumerate(lines) if l.startswith(":"))
    lines[last_chain + 1:last_chain + 1] = [f":{c} - [0:0]\n" for c in chains.split()]
    commit = lines.index("COMMIT\n")
    lines[commit:commit] = [r + "\n" for r in rules.strip().splitlines()]
    return "".join(lines).replace("{ra}", "eth0").replace("{rb}", "docker0")


def _line_of(text: str, needle: str) -> int:
    return next(n for n, l in enumerate(text.splitlines(), 1) if needle in l)


UFW_FULL = _with(UFW, "ufw-not-local", """
-A ufw-before-input -j ufw-not-local
-A ufw-not-local -m addrtype --dst-type LOCAL -j RETURN
-A ufw-not-local -m addrtype --dst-type MULTICAST -j RETURN
-A ufw-not-local -m addrtype --dst-type BROADCAST -j RETURN
-A ufw-not-local -m limit --limit 3/min --limit-burst 10 -j ufw-logging-deny
-A ufw-not-local -j DROP
""")
UFW_LIMIT = _with(UFW, "", """
-A ufw-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --set --name DEFAULT --mask 255.255.255.255 --rsource
-A ufw-user-input -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 --name DEFAULT --mask 255.255.255.255 --rsource -j ufw-user-limit
""")
KUBE_EXTERNAL = _with(KUBE, "", """
-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/web:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j REJECT --reject-with icmp-port-unreachable
""")
DOCKER_ORIG = _with(DOCKER28, "", """
-I DOCKER-USER -p tcp -m conntrack --ctorigdst 198.51.100.2 --ctorigdstport 80 -j DROP
""")
SCTP = _with(DOCKER28, "", "-A DOCKER-USER -p sctp --dport 9 -j DROP")


@pytest.mark.parametrize("name,text,needle,token,reason", [
    ("ufw", UFW_FULL, "addrtype --dst-type LOCAL", "addrtype", "is not supported by the translator"),
    ("ufw_limit", UFW_LIMIT, "-m recent --set", "recent", "is not supported by the translator"),
    ("kube_external", KUBE_EXTERNAL, "addrtype", "addrtype", "is not supported by the translator"),
    ("docker_ctorig", DOCKER_ORIG, "--ctorigdst", "--ctorigdst", "option --ctorigdst of -m conntrack"),
    ("sctp_ports", SCTP, "-p sctp", "--dport", "-m sctp, which is not supported"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 16 else None)
def test_tool_rulesets_refused_naming_line_and_token(name, text, needle, token, reason):
    with pytest.raises(RulesetError) as ei:
        parse(text)
    e = ei.value
    assert (e.line, e.token) == (_line_of(text, needle), token), str(e)
    assert reason in e.reason, str(e)


@pytest.mark.parametrize("rule,token,reason", [
    ("-A FORWARD ! -s 10.0.0.1,10.0.0.2 -j DROP", "-s", "! not allowed with multiple"),
    ("-A FORWARD -d example.org -j DROP", "-d", "host names are not resolved"),
])
def test_address_lists_and_names(rule, token, reason):
    text = "*filter\n:FORWARD ACCEPT [0:0]\n" + rule + "\nCOMMIT\n"
    with pytest.raises(RulesetError) as ei:
        parse(text)
    assert (ei.value.line, ei.value.token) == (3, token) and reason in ei.value.reason, str(ei.value)


def test_fail2ban_ipset_timeout_refused():
    sets = ("create f2b-sshd hash:ip family inet hashsize 1024 maxelem 65536 timeout 600 bucketsize 12 "
            "initval 0x6b8d2a4f\nadd f2b-sshd 198.18.7.3 timeout 431\n")
    with pytest.raises(RulesetError) as ei:
        parse_sets(sets)
    assert (ei.value.line, ei.value.token) == (1, "timeout") and "expire" in ei.value.reason
    # ipset save's bucketsize/initval (ipset 7) are fine without a timeout
    ok = parse_sets("create f2b-sshd hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 "
                    "initval 0x6b8d2a4f\nadd f2b-sshd 198.18.7.3\n")
    assert len(ok["f2b-sshd"].entries) == 1


def test_cli_refuses_ufw_with_line_and_token(tmp_path):
    p = subprocess.run([sys.executable, "-m", "dataplane", "iptables-restore", "--emit", str(tmp_path / "u.o")],
                       input=UFW_FULL, capture_output=True, text=True, timeout=120,
                       cwd=Path(__file__).resolve().parents[1])
    assert p.returncode != 0
    line = _line_of(UFW_FULL, "addrtype --dst-type LOCAL")
    assert f":{line}:" in p.stderr and "addrtype" in p.stderr and "not supported" in p.stderr, p.stderr
    assert not (tmp_path / "u.o").exists()


def test_iptables_restore_tokenizer():
    """xtables' add_param_to_argv, as checked against iptables-restore 1.8.9 here: only
    double quotes group, a backslash inside them makes the next character literal, a
    single quote and a backslash outside them are ordinary characters."""
    assert split_words(r'--comment "has \"escaped\" quotes and a \\ backslash" -j A') == \
        ["--comment", 'has "escaped" quotes and a \\ backslash', "-j", "A"]
    assert split_words(r'--comment "\'dapp_OpenSSH\'"') == ["--comment", "'dapp_OpenSSH'"]
    assert split_words(r'"x\y" a\b') == ["xy", "a\\b"]
    assert split_words("--comment 'two words'") == ["--comment", "'two", "words'"]
    assert split_words('"" a"b c"d') == ["", "ab c", "d"]


def test_save_string_quotes_as_iptables_save():
    assert save_string("plain_word-1") == "plain_word-1"
    assert save_string("two words") == '"two words"'
    assert save_string("'q'\"\\") == '"\\\'q\\\'\\"\\\\"'
    assert save_string("") == '""'


def test_quirks_round_trip_byte_for_byte():
    """iptables-save text (comments, counters, quoting) parses and saves back to itself."""
    body = "".join(l + "\n" for l in QUIRKS.splitlines() if not l.startswith("#"))
    out = save(parse(QUIRKS), with_counters=True, header=False)
    # iptables-save prints -p before -f and protocol names, not numbers
    want = (body.replace("! -f -p 17", "-p udp ! -f").replace("-p 6 ! --dport", "-p tcp -m tcp ! --dport")
            .replace("-p 47", "-p gre").replace("-p 132", "-p sctp").replace("-p 112", "-p vrrp"))
    assert out == want
