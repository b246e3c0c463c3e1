"""Numbers in a ruleset read as iptables reads them, and inverted ranges
handled as it handles them -- asked of the machine's iptables-restore and
iptables-save in a namespace of the test's own, never written down here.

xtables parses numbers with strtoumax in base 0 (so "010" is 8, "0x50" is
80, "08" is an error) and treats an inverted port range per match (-m tcp
and multiport refuse it, -m udp keeps it). Each rule below is restored by
the real tool and by dataplane: both refuse it, or both accept it and save
the same text.
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import require
from netns_util import sh, unique
from dataplane.errors import DataplaneError
from dataplane.filter.parser import parse
from dataplane.filter.save import save

RULES = [
    "-p tcp --dport 010", "-p tcp --dport 0x50", "-p tcp --dport 08", "-p tcp --dport +80", "-p tcp --dport 00080",
    "-p tcp --dport 1e2", "-p tcp --dport 65536", "-p tcp --dport -1", "-p tcp --sport 0x10:0x20",
    "-p tcp --sport 200:100", "-p udp --dport 200:100", "-p udp -m udp ! --sport 300:30",
    "-p tcp -m multiport --dports 200:100", "-p tcp -m multiport --dports 010,0x16",
    "-p 017", "-p 0x11", "-p 0b11", "-m ttl --ttl-eq 010", "-m ttl --ttl-eq 1_0",
    "-p icmp --icmp-type 010", "-m length --length 010:0x20", "-m mark --mark 010/0x0f",
    "-m limit --limit-burst 010",
    # addresses (__numeric_to_ipaddr: parts in base 0, short forms completed with zeros), masks, /0
    "-s 10.1", "-s 1", "-s 010.0.0.1", "-s 0x0a.0.0.1", "-s 10.0.0.256", "-s 255.255.255.255.1",
    "-s 10.0.0.1/0", "! -s 1.2.3.4/0", "-s 10.0.0.1/0x10", "-s 10.0.0.1/010", "-s 1.2.3.4/255.255",
    "-s 10.0.0.1/255.255.255.255", "-d 1.2.3.4/33", "-s 0.0.0.0/0,10.0.0.1",
    # interfaces, protocol aliases, other inverted ranges
    "-o +", "! -i +", "-i eth+", "-p icmpv6", "-p mh", "-m length --length 100:50",
]


def _table(rule: str) -> str:
    return f"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD {rule} -j DROP\nCOMMIT\n"


@pytest.fixture(scope="module")
def netns():
    require(os.geteuid() == 0, "root (iptables in a netns)")
    require(shutil.which("iptables-restore") is not None, "iptables")
    ns = unique("rsn")
    sh(f"ip netns add {ns}")
    try:
        yield ns
    finally:
        sh(f"ip netns del {ns}", check=False)


def _iptables(ns: str, text: str) -> str | None:
    """The FORWARD rules as iptables-save prints them after a restore; None: refused."""
    r = subprocess.run(["ip", "netns", "exec", ns, "iptables-restore"], input=text, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        return None
    out = subprocess.run(["ip", "netns", "exec", ns, "iptables-save", "-t", "filter"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    return [l for l in out.splitlines() if l.startswith("-A FORWARD")]


@pytest.mark.parametrize("rule", RULES)
def test_numbers_and_ranges_as_iptables(netns, rule):
    text = _table(rule)
    kernel = _iptables(netns, text)
    try:
        mine = [l for l in save(parse(text, source="t")).splitlines() if l.startswith("-A FORWARD")]
    except DataplaneError as e:
        mine = None
        assert kernel is None, f"iptables takes {rule!r} (saves {kernel!r}); dataplane refuses: {e}"
    assert mine == kernel, f"{rule!r}: iptables {kernel!r}, dataplane {mine!r}"
