"""Netfilter is the oracle: every corpus ruleset gives the same per-packet
verdicts and per-rule counter deltas in the dataplane's translated program
as in kernel iptables, the same iptables-save -c and iptables -L -v -n -x
text, and the same verdicts and counters when the kernel runs the program
(tests/filter_diff.py says how)."""
from __future__ import annotations

import os
import shutil

import pytest

from conftest import require
from filter_corpus import CORPUS
from filter_diff import check, run_case


@pytest.fixture(scope="module", autouse=True)
def _tools():
    require(os.geteuid() == 0, "root (netns, iptables, bpf())")
    for tool in ("iptables-restore", "iptables-save", "ipset", "ip", "unshare"):
        require(shutil.which(tool) is not None, tool)


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_netfilter_differential(case):
    check(case, run_case(case))
