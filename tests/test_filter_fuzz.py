"""Mutated iptables-restore input through the translator and verifier.

The corpus rulesets (tests/filter_corpus.py) are mutated, seeded: lines
duplicated, dropped or extended with a stray token, numbers pushed past
their ranges, words replaced, inserted, removed or reversed. For each
mutant, dataplane either refuses it with a DataplaneError (a message that
names the problem: anything else is a bug) or translates it to a program
that its verifier accepts -- and then iptables-restore must accept the same
text too (``--test``, in a namespace of the test's own): a ruleset the real
tool refuses must not become a running firewall here.
"""
from __future__ import annotations

import os
import random
import re
import subprocess

from conftest import require
from netns_util import sh, unique

import filter_corpus as fc
from dataplane.errors import DataplaneError
from dataplane.filter.binding import binding
from dataplane.filter.load import load_dataplane
from dataplane.filter.parser import parse
from dataplane.filter.program import compile_ruleset

MUTANTS = 400
SEED = 20261207
TOKENS = ["-A", "-I", "-j", "-m", "--dport", "-p", "tcp", "udp", "ACCEPT", "DROP", "REJECT", "LOG", "-s",
          "0.0.0.0/33", "!", "--ctstate", "NEW,ESTABLISHED", "conntrack", "state", "multiport", "--dports",
          "1:65536", "'", '"', "\x00", "\n", "COMMIT", "*filter", ":FORWARD", "[0:0]", "-i", "eth+",
          "--reject-with", "icmp-bogus", "999999999999999999999", "-1", "--log-prefix", "x" * 300,
          "--tcp-flags", "SYN,ACK", "SYN", "-N", "-X", "-F", "comment", "--comment", "-m set --match-set",
          "src", "-t", "nat", "%", "\\", "#"]
NUMBERS = ["0", "1", "255", "256", "65535", "65536", "4294967296"]


def _corpus() -> list[str]:
    out = [fc.STATEFUL_RULES]
    for group in (fc.STATELESS, fc.STATEFUL, fc.TARGETS, fc.MORE):
        out += [c.rules for c in group if "*filter" in c.rules and not c.sets]
    return out


def _mutate(rng: random.Random, text: str) -> str:
    if rng.random() < 0.5:
        lines = text.split("\n")
        for _ in range(rng.randint(1, 3)):
            if not lines:
                break
            k, op = rng.randrange(len(lines)), rng.random()
            if op < 0.3:
                lines.insert(k, lines[rng.randrange(len(lines))])
            elif op < 0.5:
                del lines[k]
            elif op < 0.8:
                lines[k] = re.sub(r"\d+", lambda m: rng.choice(NUMBERS + [m.group(0) * 2]), lines[k], count=1)
            else:
                lines[k] += " " + rng.choice(TOKENS)
        return "\n".join(lines)
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        if len(words) < 2:
            break
        k, op = rng.randrange(len(words)), rng.random()
        if op < 0.4:
            words[k] = rng.choice(TOKENS)
        elif op < 0.6:
            words.insert(k, rng.choice(TOKENS))
        elif op < 0.8:
            del words[k]
        else:
            words[k] = words[k][::-1]
    return " ".join(words)


def test_mutated_rulesets_are_refused_clearly_or_accepted_by_iptables_too(tmp_path):
    require(os.geteuid() == 0, "root (iptables-restore --test in a netns)")
    require(subprocess.run(["which", "iptables-restore"], capture_output=True).returncode == 0, "iptables")
    rng = random.Random(SEED)
    corpus = _corpus()
    assert len(corpus) >= 20
    b = binding([("lo", 1)], "FORWARD")
    ns = unique("rsf")
    sh(f"ip netns add {ns}")
    accepted = refused = 0
    try:
        for i in range(MUTANTS):
            text = _mutate(rng, rng.choice(corpus))
            try:
                load_dataplane(compile_ruleset(parse(text, source="fuzz", other_tables="skip"), b))
            except DataplaneError as e:
                msg = str(e)
                assert msg.strip() and len(msg) < 4096, (i, msg[:300])
                refused += 1
                continue
            # anything but a DataplaneError propagates and fails the test
            accepted += 1
            r = subprocess.run(["ip", "netns", "exec", ns, "iptables-restore", "--test"], input=text,
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                (tmp_path / f"mutant{i}.rules").write_text(text)
            assert r.returncode == 0, f"mutant {i}: dataplane runs it, iptables-restore says {r.stderr[:300]}"
    finally:
        sh(f"ip netns del {ns}", check=False)
    # the mutations must reach both outcomes, or the test checks nothing
    assert accepted >= 20 and refused >= 100, (accepted, refused)
