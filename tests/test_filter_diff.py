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
from filter_corpus import CORPUS as _BASE
from filter_corpus_tools import TOOLS
from dataplane.filter.kernel_run import kernel_runs
from filter_diff import check, kernel_request, run_case

CORPUS = _BASE + TOOLS


@pytest.fixture(scope="module", autouse=True)
def _tools():
    require(os.geteuid() == 0, "root (netns, iptables, bpf())")
    for tool in ("iptables-restore", "iptables-save", "ipset", "ip", "unshare"):
        require(shutil.which(tool) is not None, tool)


@pytest.fixture(scope="module")
def kernel_results():
    """Every case's kernel run, in one child process (one parse of the kernel's BTF)."""
    cases = [c for c in CORPUS if c.kernel]
    return dict(zip((c.name for c in cases), kernel_runs([kernel_request(c) for c in cases])))


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: c.name)
def test_netfilter_differential(case, kernel_results):
    res = run_case(case)
    if case.kernel:
        res.kernel = kernel_results[case.name]
        assert "error" not in res.kernel, res.kernel.get("error")
    check(case, res)
