"""The netfilter differential harness of tests/test_filter_*.py.

``run_case(case)`` loads one ruleset (and its ipsets) into kernel netfilter
in a private router namespace (dataplane.filter.oracle) and into the
dataplane's translated program (two hooks, one per side of the inline
pair, as replay runs them), sends the same frames through both one at a
time, and returns what each saw, so tests compare:

  * per packet: the counter deltas of every rule and policy (netfilter's
    ``iptables-save -c`` before/after vs the program's iptables_counters),
    the verdict (netfilter: the accepting/dropping/rejecting rule or policy
    that counted it, and whether it came out of the far side; dataplane:
    the XDP verdict);
  * at the end: ``iptables-save -c`` and ``iptables -L -v -n -x`` text of
    the oracle vs the dataplane's formatting of its own counters, byte for
    byte (the ``# Generated`` lines aside);
  * the same program run by the kernel (BPF_PROG_TEST_RUN in a fresh
    netns, dataplane.filter.kernel_run): verdicts and final counters.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from scapy.all import Ether, raw

from dataplane.filter.binding import binding
from dataplane.filter.ipset import parse_sets
from dataplane.filter.kernel_run import kernel_run
from dataplane.filter.listing import listing
from dataplane.filter.load import dataplane_counters, load_dataplane
from dataplane.filter.oracle import NetfilterRouter
from dataplane.filter.parser import parse
from dataplane.filter.program import PROG_NAME, compile_ruleset
from dataplane.filter.save import save
from dataplane.hooks import Hook, bind
from dataplane.io.frames import FrameBatch

XDP_DROP, XDP_PASS, XDP_TX = 1, 2, 3
_seq = [0]


@dataclass
class Case:
    name: str
    rules: str
    packets: list                       # (side "a"|"b", scapy IP packet)
    sets: str = ""
    chain: str | None = None            # None: FORWARD (two interfaces)
    kernel: bool = True                 # also run the program in the kernel
    expect: list | None = None          # optional expected verdict per packet ("pass"/"drop"/"reject")


@dataclass
class Result:
    nf_deltas: list = field(default_factory=list)
    dp_deltas: list = field(default_factory=list)
    nf_verdicts: list = field(default_factory=list)
    dp_verdicts: list = field(default_factory=list)
    nf_arrived: list = field(default_factory=list)
    nf_save: str = ""
    dp_save: str = ""
    nf_list: str = ""
    dp_list: str = ""
    kernel: dict | None = None
    dp_final: list = field(default_factory=list)
    compiled: object = None
    frames: list = field(default_factory=list)
    dp_outputs: list = field(default_factory=list)


def _delta(a, b):
    return [(x[0] - y[0], x[1] - y[1]) for x, y in zip(a, b)]


def nf_verdict(rs, delta) -> str:
    """What netfilter did with a packet, from which rule or policy counted it."""
    rules = rs.all_rules()
    final = []
    for i, (p, _) in enumerate(delta):
        if p <= 0:
            continue
        if i >= len(rules):
            final.append("pass" if rs.builtins()[i - len(rules)].policy == "ACCEPT" else "drop")
        else:
            k = rules[i].target.kind
            if k in ("ACCEPT", "DROP", "REJECT"):
                final.append({"ACCEPT": "pass", "DROP": "drop", "REJECT": "reject"}[k])
    if len(final) != 1:
        return f"unclear{final}"
    return final[0]


def run_case(case: Case) -> Result:
    sets = parse_sets(case.sets) if case.sets else None
    rs = parse(case.rules, sets=sets)
    _seq[0] += 1
    tag = f"{os.getpid() % 10000}{_seq[0] % 100}"
    res = Result()
    local = case.chain == "INPUT"
    with NetfilterRouter(tag, local_all=local) as nf:
        nf.restore(case.rules, case.sets)
        ifs = [(nf.ifs["ra"], nf.ifindex["ra"]), (nf.ifs["rb"], nf.ifindex["rb"])]
        b = binding(ifs if not local else ifs[:1], case.chain)
        cf = compile_ruleset(rs, b)
        res.compiled = cf
        coll = load_dataplane(cf, counters=cf.initial_counters())
        hooks = {"a": Hook(f"fa{tag}", ifindex=nf.ifindex["ra"]), "b": Hook(f"fb{tag}", ifindex=nf.ifindex["rb"])}
        prog = bind(coll, PROG_NAME)
        for h in hooks.values():
            h.attach(prog)
        before = nf.counters()
        dp_before = dataplane_counters(coll, cf.ncounters)
        assert before == dp_before, "initial counters differ"
        for k, (side, pkt) in enumerate(case.packets):
            src, dst = ("a1", "ra") if side == "a" else ("b1", "rb")
            frame = raw(Ether(src=nf.mac[src], dst=nf.mac[dst]) / pkt)
            res.frames.append((side, frame))
            nf.drain()
            nf.send(src, frame)
            after = nf.counters()
            other = "b1" if side == "a" else "a1"
            arrived = nf.received(other, wait=0.005)
            res.nf_arrived.append(bool(arrived))
            d = _delta(after, before)
            res.nf_deltas.append(d)
            res.nf_verdicts.append(nf_verdict(rs, d))
            before = after
            batch = FrameBatch(capacity=1)
            batch.append(frame)
            hooks[side].current()[1].run(batch)
            res.dp_verdicts.append({XDP_DROP: "drop", XDP_PASS: "pass", XDP_TX: "reject"}.get(
                batch.verdict(0), f"xdp{batch.verdict(0)}"))
            res.dp_outputs.append(batch.frame(0))
            dp_after = dataplane_counters(coll, cf.ncounters)
            res.dp_deltas.append(_delta(dp_after, dp_before))
            dp_before = dp_after
        res.dp_final = dp_before
        strip = lambda t: "".join(l + "\n" for l in t.splitlines() if not l.startswith("#"))
        res.nf_save = strip(nf.save())
        res.dp_save = save(rs, dp_before, with_counters=True, header=False)
        res.nf_list = nf.listing()
        res.dp_list = listing(rs, dp_before)
    if case.kernel:
        names = tuple(n for n, _ in ifs) if not local else (ifs[0][0],)
        res.kernel = kernel_run(case.rules, case.sets, names, case.chain,
                                [(0 if s == "a" else 1, f) for s, f in res.frames])
    return res


def _diff(a: str, b: str) -> str:
    import difflib
    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "netfilter", "dataplane", lineterm=""))


def check(case: Case, res: Result) -> None:
    """The assertions every differential case makes."""
    for k, (nd, dd) in enumerate(zip(res.nf_deltas, res.dp_deltas)):
        assert nd == dd, (f"{case.name}: packet {k}: counter deltas differ\n"
                          f"  netfilter: {[(i, x) for i, x in enumerate(nd) if x != (0, 0)]}\n"
                          f"  dataplane: {[(i, x) for i, x in enumerate(dd) if x != (0, 0)]}")
    for k, (nv, dv) in enumerate(zip(res.nf_verdicts, res.dp_verdicts)):
        assert nv == dv, f"{case.name}: packet {k}: netfilter {nv}, dataplane {dv}"
        if case.chain != "INPUT":
            assert res.nf_arrived[k] == (nv == "pass"), \
                f"{case.name}: packet {k}: netfilter verdict {nv} but arrived={res.nf_arrived[k]}"
    if case.expect is not None:
        assert res.dp_verdicts == case.expect, f"{case.name}: verdicts {res.dp_verdicts} != {case.expect}"
    assert res.dp_save == res.nf_save, f"{case.name}: iptables-save -c text differs:\n" + _diff(res.nf_save, res.dp_save)
    assert res.dp_list == res.nf_list, f"{case.name}: iptables -L -v -n -x text differs:\n" + _diff(res.nf_list, res.dp_list)
    if res.kernel is not None:
        kv = [{XDP_DROP: "drop", XDP_PASS: "pass", XDP_TX: "reject"}.get(v, f"xdp{v}")
              for v in res.kernel["verdicts"]]
        assert kv == res.dp_verdicts, f"{case.name}: kernel run verdicts {kv} != dataplane {res.dp_verdicts}"
        assert [tuple(c) for c in res.kernel["counters"]] == res.dp_final, \
            f"{case.name}: kernel run counters differ from the dataplane's"
